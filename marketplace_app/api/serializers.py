"""Request and response shapes of the marketplace API (plain serializers: lists stay light)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from breederhq.api.currency_field import CurrencyChoiceField
from breederhq.api.disputes import invoice_dispute_field
from breederhq.api.rendering import datetime_renderer
from breederhq.invoicing.due_dates import DUE_DATE_HELP, OVERDUE_HELP, due_date_of_instant, is_overdue
from breederhq.money import (
    INVOICE_TOTAL_HELP,
    LINE_TOTAL_HELP,
    MAX_AMOUNT_CENTS,
    MAX_LINES,
    MAX_QUANTITY,
)
from marketplace_app.api.image_serializers import ImageOut, ModerationOut
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceTransaction,
    Provider,
    ServiceListing,
)
from tenant_app.api.serializers import StrictSerializer

TRANSACTION_STATUSES = MarketplaceTransaction.Status.choices
TRANSACTION_ACTIONS = ("cancel",)
PROVIDER_KINDS = Provider.Kind.choices
#: Listing categories, also a provider's primary category: one enum in the schema (CategoryEnum).
LISTING_CATEGORIES = ServiceListing.Category.choices


class ProviderRef(serializers.Serializer):
    id = serializers.IntegerField()
    business_name = serializers.CharField()
    kind = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()


class ListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    provider = ProviderRef()
    published_at = serializers.DateTimeField(allow_null=True)


class ListingWithImagesOut(ListingOut):
    images = ImageOut(many=True, help_text="In the provider's order.")


class ListingDetailOut(ListingWithImagesOut):
    description = serializers.CharField()
    category_metadata = serializers.JSONField()
    images = ImageOut(many=True, source="shown_images", help_text="In the provider's order.")


class TransactionOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=MarketplaceTransaction.Status.choices)
    provider = ProviderRef()
    client_id = serializers.IntegerField()
    listing_id = serializers.IntegerField(allow_null=True)
    description = serializers.CharField()
    amount_cents = serializers.IntegerField()
    refunded_cents = serializers.IntegerField()
    currency = serializers.CharField()
    invoice_type = serializers.CharField(allow_null=True)
    invoice_id = serializers.IntegerField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _billing_invoice(tx: MarketplaceTransaction) -> tuple[str, int, int | None] | None:
    """The invoice billing a purchase: a breeder's tenant invoice (in the breeder's tenant) or a
    service provider's marketplace invoice; None before it is invoiced."""
    if tx.invoice_id is None:
        return None
    tenant_id = tx.provider.tenant_id if tx.invoice_type == MarketplaceTransaction.InvoiceType.TENANT else None
    return tx.invoice_type, tx.invoice_id, tenant_id


class TransactionDetailOut(TransactionOut):
    dispute = invoice_dispute_field(locate=_billing_invoice)(
        help_text="The buyer's dispute (chargeback) of the card payment of the invoice billing this, or null."
    )


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class ThreadOut(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    provider = ProviderRef()
    buyer = UserRef()
    listing_id = serializers.IntegerField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ThreadIn(StrictSerializer):
    provider_id = serializers.IntegerField(min_value=1)
    body = serializers.CharField(max_length=10_000)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    listing_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    thread_id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    body = serializers.CharField()
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class MessageIn(StrictSerializer):
    body = serializers.CharField(max_length=10_000)


class MessagePageOut(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older messages.")
    results = MessageOut(many=True)


class BlockOut(serializers.Serializer):
    blocked_user = UserRef()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class BlockIn(StrictSerializer):
    user_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


# --- Marketplace invoices (service providers) ------------------------------------------------------

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


# --- Transactions: actions -------------------------------------------------------------------------


class TransactionIn(StrictSerializer):
    listing_id = serializers.IntegerField(
        min_value=1, help_text="The active listing you buy; its price and title make the purchase."
    )


class TransactionPatch(StrictSerializer):
    action = serializers.ChoiceField(choices=TRANSACTION_ACTIONS)


# --- Providers -------------------------------------------------------------------------------------


class ProviderListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)


class ProviderOut(serializers.Serializer):
    id = serializers.IntegerField()
    business_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    description = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    country = serializers.CharField()
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        allow_blank=True,
        help_text="What the provider mainly offers (a listing category), or empty.",
    )
    currency = serializers.CharField()
    total_listings = serializers.IntegerField()
    total_transactions = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ProviderDetailOut(ProviderOut):
    listings = ProviderListingOut(many=True, source="active_listings")


class SuspensionOut(serializers.Serializer):
    suspended = serializers.BooleanField(
        help_text="Staff suspended the profile: it and its listings are off the "
        "public marketplace, and publishing, new purchases and new "
        "threads are refused (409 `provider_suspended`)."
    )
    reason = serializers.CharField(help_text="What staff said when they suspended (or reinstated) it.")
    suspended_at = serializers.DateTimeField(allow_null=True)
    reinstated_at = serializers.DateTimeField(allow_null=True)


class ProviderOwnOut(ProviderOut):
    payment_mode = serializers.ChoiceField(choices=Provider.PaymentMode.choices)
    version = serializers.IntegerField(help_text="Send it back (or If-Match) with a change.")
    suspension = serializers.SerializerMethodField()

    @extend_schema_field(SuspensionOut)
    def get_suspension(self, provider) -> dict:
        from marketplace_app.provider_suspension import suspension_out

        return SuspensionOut(suspension_out(provider)).data


class ProviderPatch(StrictSerializer):
    business_name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        required=False,
        allow_blank=True,
        help_text="A listing category, or empty.",
    )
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )

    def validate(self, attrs):
        if not set(attrs) - {"version"}:
            raise serializers.ValidationError({"business_name": ["send at least one field to change"]})
        return attrs


class MarketplaceReceiptIn(StrictSerializer):
    receipt = serializers.FileField(help_text="PDF, PNG, JPEG or WebP (by content); at most RECEIPT_MAX_BYTES.")
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The invoice version you last read; or send it as If-Match."
    )


# --- Hot lists rendered from `values()` rows ---------------------------------------------------------
# The search, transaction and message lists read only the columns they show (`*_VALUES`) and render
# the rows with these functions (breederhq/api/rendering.py) instead of building model instances and
# walking DRF fields per row.
# The output is exactly what ListingOut / TransactionOut / MessageOut give for the same rows
# (tests/marketplace_app/test_row_rendering.py); those classes still define the schema.

PROVIDER_REF_VALUES = ("provider_id", "provider__business_name", "provider__kind", "provider__city", "provider__state")
LISTING_VALUES = (
    "id",
    "slug",
    "title",
    "category",
    "price_cents",
    "currency",
    "city",
    "state",
    "published_at",
    *PROVIDER_REF_VALUES,
)
TRANSACTION_VALUES = (
    "id",
    "status",
    "client_id",
    "listing_id",
    "description",
    "amount_cents",
    "refunded_cents",
    "currency",
    "invoice_type",
    "invoice_id",
    "paid_at",
    "created_at",
    *PROVIDER_REF_VALUES,
)
MESSAGE_VALUES = ("id", "thread_id", "sender_id", "body", "read_at", "created_at")


def _provider_ref(row: dict) -> dict:
    return {
        "id": row["provider_id"],
        "business_name": row["provider__business_name"],
        "kind": row["provider__kind"],
        "city": row["provider__city"],
        "state": row["provider__state"],
    }


def listing_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "slug": r["slug"],
            "title": r["title"],
            "category": r["category"],
            "price_cents": r["price_cents"],
            "currency": r["currency"],
            "city": r["city"],
            "state": r["state"],
            "provider": _provider_ref(r),
            "published_at": _datetime(r["published_at"]),
        }
        for r in rows
    ]


def transaction_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "status": r["status"],
            "provider": _provider_ref(r),
            "client_id": r["client_id"],
            "listing_id": r["listing_id"],
            "description": r["description"],
            "amount_cents": r["amount_cents"],
            "refunded_cents": r["refunded_cents"],
            "currency": r["currency"],
            "invoice_type": r["invoice_type"],
            "invoice_id": r["invoice_id"],
            "paid_at": _datetime(r["paid_at"]),
            "created_at": _datetime(r["created_at"]),
        }
        for r in rows
    ]


def message_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "thread_id": r["thread_id"],
            "sender_id": r["sender_id"],
            "body": r["body"],
            "read_at": _datetime(r["read_at"]),
            "created_at": _datetime(r["created_at"]),
        }
        for r in rows
    ]


# --- Self-service: a provider profile and its listings ------------------------------------------------


class ProviderCreateIn(StrictSerializer):
    business_name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(
        choices=Provider.Kind.choices,
        default=Provider.Kind.SERVICE_PROVIDER,
        help_text="A breeder names its tenant (`tenant_id`, which you own).",
    )
    tenant_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    state = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="What you mainly offer (a listing category).",
    )
    currency = CurrencyChoiceField(default="USD")


class OwnListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=ServiceListing.Status.choices)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    category_metadata = serializers.JSONField()
    published_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField(help_text="Send it back (or If-Match) with a change.")
    moderation = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(ModerationOut)
    def get_moderation(self, listing) -> dict:
        from marketplace_app.moderation import moderation_out

        return ModerationOut(moderation_out(listing)).data


class _ListingFields(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_CENTS, help_text="In minor units of the provider's currency."
    )
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    category_metadata = serializers.DictField(required=False, help_text="Free-form facts (breed, age, ...).")

    def validate_category_metadata(self, value):
        import json

        if len(json.dumps(value)) > 10000:
            raise serializers.ValidationError("at most 10000 characters of JSON")
        return value


class ListingCreateIn(_ListingFields):
    pass


LISTING_ACTIONS = ("publish", "unpublish", "archive")


class ListingPatch(_ListingFields):
    title = serializers.CharField(max_length=200, required=False)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices, required=False)
    price_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, required=False)
    action = serializers.ChoiceField(
        choices=LISTING_ACTIONS,
        required=False,
        help_text="publish (on sale, public), unpublish (paused), archive (final).",
    )
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )

    def validate(self, attrs):
        fields = set(attrs) - {"version", "action"}
        if "action" in attrs and fields:
            raise serializers.ValidationError({"action": ["an action or field changes, not both"]})
        if "action" not in attrs and not fields:
            raise serializers.ValidationError({"action": ["send an action or at least one field to change"]})
        return attrs
