"""Marketplace invoices of service providers: lines, the invoice, create, patch and the buyer's receipt."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from breederhq.api.disputes import invoice_dispute_field
from breederhq.invoicing.due_dates import DUE_DATE_HELP, OVERDUE_HELP, due_date_of_instant, is_overdue
from breederhq.money import (
    INVOICE_TOTAL_HELP,
    LINE_TOTAL_HELP,
    MAX_AMOUNT_CENTS,
    MAX_LINES,
    MAX_QUANTITY,
)
from marketplace_app.api.serializers.providers import ProviderRef
from marketplace_app.models import (
    MarketplaceInvoice,
)
from tenant_app.api.serializers import StrictSerializer

DUE_AT_IN_HELP = (
    "Deprecated (removed in the next version): send `due_date`. Read as its date in UTC; "
    "with `due_date`, both must name the same day."
)
DUE_AT_OUT_HELP = "Deprecated (removed in the next version): read `due_date`. Its midnight UTC."
MARKETPLACE_INVOICE_ACTIONS = ("send", "mark_paid", "confirm_payment", "reject_payment", "void", "refund")


class MarketplaceLineOut(serializers.Serializer):
    id = serializers.IntegerField()
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()


@extend_schema_serializer(deprecate_fields=["due_at"])
class MarketplaceInvoiceOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=MarketplaceInvoice.Status.choices)
    version = serializers.IntegerField()
    provider = ProviderRef()
    client_id = serializers.IntegerField()
    transaction_id = serializers.IntegerField()
    currency = serializers.CharField()
    subtotal_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    refunded_cents = serializers.IntegerField()
    payment_mode_snapshot = serializers.ChoiceField(choices=MarketplaceInvoice.PaymentMode.choices)
    has_receipt = serializers.SerializerMethodField(help_text="The buyer uploaded a receipt file.")
    buyer_payment_receipt_url = serializers.URLField(
        allow_null=True, help_text="A receipt given as a URL (deprecated form)."
    )
    buyer_marked_paid_at = serializers.DateTimeField(allow_null=True)
    due_date = serializers.DateField(allow_null=True, help_text="The calendar date the invoice is due.")
    is_overdue = serializers.SerializerMethodField(help_text=OVERDUE_HELP)
    due_at = serializers.DateTimeField(allow_null=True, help_text=DUE_AT_OUT_HELP)
    sent_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_has_receipt(self, invoice) -> bool:
        return bool(invoice.buyer_payment_receipt)

    def get_is_overdue(self, invoice) -> bool:
        return is_overdue(status=invoice.status, due_date=invoice.due_date)


class MarketplaceInvoiceDetailOut(MarketplaceInvoiceOut):
    line_items = MarketplaceLineOut(many=True, source="line_items.all")
    dispute = invoice_dispute_field("marketplace")()


class MarketplaceLineIn(StrictSerializer):
    description = serializers.CharField(max_length=500)
    unit_price_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1, help_text=LINE_TOTAL_HELP)


@extend_schema_serializer(deprecate_fields=["due_at"])
class MarketplaceInvoiceIn(StrictSerializer):
    transaction_id = serializers.IntegerField(min_value=1)
    line_items = MarketplaceLineIn(many=True, allow_empty=False, max_length=MAX_LINES, help_text=INVOICE_TOTAL_HELP)
    tax_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, default=0)
    due_date = serializers.DateField(required=False, allow_null=True, default=None, help_text=DUE_DATE_HELP)
    due_at = serializers.DateTimeField(required=False, allow_null=True, help_text=DUE_AT_IN_HELP)

    def validate(self, attrs):
        # The deprecated instant means its UTC date; sent with `due_date`, both must name the same day.
        if "due_at" in attrs:
            meant = due_date_of_instant(attrs.pop("due_at"))
            if attrs["due_date"] is None:
                attrs["due_date"] = meant
            elif meant is not None and meant != attrs["due_date"]:
                raise serializers.ValidationError({"due_at": ["names another day than due_date; send due_date only"]})
        return attrs


@extend_schema_serializer(deprecate_fields=["receipt_url"])
class MarketplaceInvoicePatch(StrictSerializer):
    """A state change at the `version` the caller last read (or `If-Match`). `mark_paid` is the
    buyer's claim with `receipt_url` (deprecated: upload the file to `invoices/{id}/receipt/`);
    every other action is the provider's."""

    action = serializers.ChoiceField(choices=MARKETPLACE_INVOICE_ACTIONS)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )
    receipt_url = serializers.URLField(
        max_length=500,
        required=False,
        help_text="mark_paid: where the payment receipt is. Deprecated: upload "
        "the file with POST invoices/{id}/receipt/ instead.",
    )
    amount_cents = serializers.IntegerField(
        min_value=1, max_value=MAX_AMOUNT_CENTS, required=False, help_text="refund: how much."
    )

    def validate(self, attrs):
        if attrs["action"] == "mark_paid" and not attrs.get("receipt_url"):
            raise serializers.ValidationError({"receipt_url": ["required for mark_paid"]})
        if attrs["action"] == "refund" and "amount_cents" not in attrs:
            raise serializers.ValidationError({"amount_cents": ["required for refund"]})
        return attrs


class MarketplaceReceiptIn(StrictSerializer):
    receipt = serializers.FileField(help_text="PDF, PNG, JPEG or WebP (by content); at most RECEIPT_MAX_BYTES.")
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The invoice version you last read; or send it as If-Match."
    )
