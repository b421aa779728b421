"""How a dispute (chargeback) of an invoice reads in the API, shared by every invoice serializer: the
summary's shape, and the `dispute` field an invoice detail carries, read through the core's disputes
port (breederhq/invoicing/disputes.py) so the domain apps need not import payments_app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from breederhq.invoicing.disputes import latest_dispute


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


def invoice_dispute_field(
    invoice_kind: str | None = None, *, locate: Callable[[Any], tuple[str, int, int | None] | None] | None = None
):
    """A read-only `dispute` field: the latest dispute of an invoice, or null (one query, on detail
    answers only). The serialized object is the invoice of kind `invoice_kind` itself, or, with
    `locate`, an object that names one: `locate(obj)` answers (kind, invoice id, tenant id) or None
    (no invoice, no dispute)."""
    if locate is None:

        def locate(invoice):
            return invoice_kind, invoice.pk, getattr(invoice, "tenant_id", None)

    @extend_schema_field(DisputeSummaryOut(allow_null=True))
    class InvoiceDisputeField(serializers.Field):
        def __init__(self, **kwargs):
            kwargs.setdefault("help_text", "The buyer's dispute of the card payment (chargeback), or null.")
            super().__init__(source="*", read_only=True, **kwargs)

        def to_representation(self, instance):
            found = locate(instance)
            if found is None:
                return None
            kind, pk, tenant = found
            summary = latest_dispute(invoice_kind=kind, invoice_id=pk, tenant_id=tenant)
            return DisputeSummaryOut(summary).data if summary is not None else None

    return InvoiceDisputeField
