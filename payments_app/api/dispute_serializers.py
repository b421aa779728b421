"""How a dispute reads in the API (a leaf module: the invoice serializers of both apps use it)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class DisputeFileOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Name it in the evidence's `files`.")
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class DisputeSummaryOut(serializers.Serializer):
    id = serializers.CharField(help_text="Stripe's dispute id.")
    status = serializers.CharField(help_text="needs_response, under_review, won, lost, warning_* ...")
    amount_cents = serializers.IntegerField(help_text="The disputed amount, in the currency's minor unit.")
    currency = serializers.CharField()
    reason = serializers.CharField(help_text="Stripe's reason: fraudulent, product_not_received, ...")
    evidence_due_by = serializers.DateTimeField(allow_null=True)
    evidence_submitted = serializers.BooleanField()
    evidence_submitted_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class DisputeOut(DisputeSummaryOut):
    evidence_files = DisputeFileOut(many=True, help_text="The seller's uploaded files (empty for the buyer).")


def invoice_dispute_field(invoice_kind: str):
    """A read-only `dispute` field for an invoice serializer: the invoice's latest dispute, or null
    (one query, on detail answers only)."""

    @extend_schema_field(DisputeSummaryOut(allow_null=True))
    class InvoiceDisputeField(serializers.Field):
        def __init__(self, **kwargs):
            super().__init__(source="*", read_only=True,
                             help_text="The buyer's dispute of the card payment (chargeback), or null.", **kwargs)

        def to_representation(self, invoice):
            from payments_app.disputes import dispute_summary, invoice_dispute

            summary = dispute_summary(invoice_dispute(invoice_kind=invoice_kind, invoice_id=invoice.pk,
                                                      tenant_id=getattr(invoice, "tenant_id", None)))
            return DisputeSummaryOut(summary).data if summary is not None else None

    return InvoiceDisputeField
