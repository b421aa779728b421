"""Request and response shapes of the tenant API. Input serializers validate types only; the rules
live in tenant_app.services. Output serializers are plain (no ModelSerializer): lists stay light."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from breederhq.api.currency_field import CurrencyChoiceField
from breederhq.api.disputes import invoice_dispute_field
from breederhq.api.rendering import datetime_renderer
from breederhq.currencies import CURRENCY_CODES
from breederhq.invoicing.due_dates import DUE_DATE_HELP, OVERDUE_HELP, is_overdue
from breederhq.money import (
    INVOICE_TOTAL_HELP,
    LINE_TOTAL_HELP,
    MAX_AMOUNT_CENTS,
    MAX_LINES,
    MAX_QUANTITY,
)
from tenant_app.models import (
    Contact,
    InvitationStatus,
    InvoiceStatus,
    Payment,
    TenantInvitation,
    TenantMembership,
)

# Named enums in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
CONTACT_KINDS = Contact.Kind.choices
PAYMENT_KINDS = Payment.Kind.choices
INVOICE_STATUSES = InvoiceStatus.choices

CONTACT_FIELDS = (
    "kind",
    "first_name",
    "last_name",
    "organization_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "notes",
)


#: The currencies a request may name (one enum in the schema, `CurrencyEnum`).
CURRENCIES = list(CURRENCY_CODES)


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, not silently ignored (a typo must not drop a change)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class MarketplaceUserRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField(allow_null=True)
    is_deleted = serializers.BooleanField()


class ContactOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Contact.Kind.choices)
    display_name = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    organization_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    notes = serializers.CharField()
    marketplace_user = MarketplaceUserRef(allow_null=True, help_text="The linked marketplace person, if any.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def contact_rows_out(contacts) -> list[dict]:
    """ContactOut's representation of each contact (its `marketplace_user` set by the view), built
    directly: DRF's field-by-field `to_representation` was about a third of the contact list's CPU
    (measured with bench/). The JSON is exactly ContactOut's, key order included
    (tests/tenant_app/test_contact_rendering.py); ContactOut still defines the schema."""
    _datetime = datetime_renderer()
    return [
        {
            "id": c.id,
            "kind": c.kind,
            "display_name": c.display_name,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "organization_name": c.organization_name,
            "email": c.email,
            "phone": c.phone,
            "address_line1": c.address_line1,
            "address_line2": c.address_line2,
            "city": c.city,
            "region": c.region,
            "postal_code": c.postal_code,
            "country": c.country,
            "notes": c.notes,
            "marketplace_user": c.marketplace_user,  # already {id, display_name, is_deleted} or None (the view)
            "created_at": _datetime(c.created_at),
            "updated_at": _datetime(c.updated_at),
        }
        for c in contacts
    ]


class ContactIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=Contact.Kind.choices, default=Contact.Kind.PERSON)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    organization_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    address_line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address_line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ContactPatch(ContactIn):
    kind = serializers.ChoiceField(choices=Contact.Kind.choices, required=False)


class LineIn(StrictSerializer):
    description = serializers.CharField(max_length=500)
    unit_price_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1, help_text=LINE_TOTAL_HELP)


class LineOut(serializers.Serializer):
    id = serializers.IntegerField()
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()


class InvoiceIn(StrictSerializer):
    contact_id = serializers.IntegerField(min_value=1)
    lines = LineIn(many=True, allow_empty=False, max_length=MAX_LINES, help_text=INVOICE_TOTAL_HELP)
    currency = CurrencyChoiceField(
        required=False,
        help_text="Default: the tenant's `default_currency`. Amounts are "
        "in its minor unit (JPY: yen; KWD: fils, ending in 0).",
    )
    tax_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, default=0)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    due_date = serializers.DateField(required=False, allow_null=True, default=None, help_text=DUE_DATE_HELP)
    is_marketplace_invoice = serializers.BooleanField(default=False)


ACTIONS = ("send", "mark_paid", "confirm_payment", "reject_payment", "void", "refund")


class InvoicePatch(StrictSerializer):
    """Either an `action` (a state change) or draft fields (lines, tax, notes, due date), with the
    `version` the client last saw (or `If-Match`)."""

    action = serializers.ChoiceField(choices=ACTIONS, required=False)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )
    # mark_paid
    method = serializers.ChoiceField(choices=Payment.Method.choices, required=False)
    # mark_paid, confirm_payment
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    # reject_payment, void, refund
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    # refund
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT_CENTS, required=False)
    # draft update
    lines = LineIn(many=True, required=False, allow_empty=False, max_length=MAX_LINES, help_text=INVOICE_TOTAL_HELP)
    tax_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    due_date = serializers.DateField(required=False, help_text=DUE_DATE_HELP)

    def validate(self, attrs):
        action = attrs.get("action")
        draft_fields = {"lines", "tax_cents", "notes", "due_date"} & set(attrs)
        if action and draft_fields:
            raise serializers.ValidationError({name: [f"not allowed with action {action}"] for name in draft_fields})
        if not action and not draft_fields:
            raise serializers.ValidationError({"action": ["an action or draft fields are required"]})
        if action == "mark_paid" and "method" not in attrs:
            raise serializers.ValidationError({"method": ["required for mark_paid"]})
        if action == "refund" and "amount_cents" not in attrs:
            raise serializers.ValidationError({"amount_cents": ["required for refund"]})
        if action in ("reject_payment", "refund") and not attrs.get("reason", "").strip():
            raise serializers.ValidationError({"reason": [f"required for {action}"]})
        return attrs


class ContactRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class InvoiceOut(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_number = serializers.CharField()
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    version = serializers.IntegerField()
    contact = ContactRef()
    currency = serializers.CharField()
    subtotal_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    paid_cents = serializers.IntegerField()
    refunded_cents = serializers.IntegerField()
    balance_cents = serializers.IntegerField()
    payment_mode_snapshot = serializers.CharField()
    reconciliation_status = serializers.CharField()
    is_marketplace_invoice = serializers.BooleanField()
    has_receipt = serializers.SerializerMethodField()
    buyer_marked_paid_at = serializers.DateTimeField(allow_null=True)
    notes = serializers.CharField()
    due_date = serializers.DateField(allow_null=True, help_text="The calendar date the invoice is due.")
    is_overdue = serializers.SerializerMethodField(help_text=OVERDUE_HELP)
    sent_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_receipt(self, invoice) -> bool:
        return bool(invoice.buyer_payment_receipt)

    def get_is_overdue(self, invoice) -> bool:
        return is_overdue(status=invoice.status, due_date=invoice.due_date)


class InvoiceDetailOut(InvoiceOut):
    lines = LineOut(many=True, source="line_items.all")
    dispute = invoice_dispute_field("tenant")()


class PaymentOut(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField(source="invoice.invoice_number")
    kind = serializers.ChoiceField(choices=Payment.Kind.choices)
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    external_reference = serializers.CharField()
    credit_note_number = serializers.CharField(source="credit_note.credit_note_number", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class ReceiptIn(serializers.Serializer):
    receipt = serializers.FileField(help_text="PDF, PNG, JPEG or WebP; at most RECEIPT_MAX_BYTES.")
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    version = serializers.IntegerField(min_value=1, required=False)


class TenantMeOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    marketplace_payment_mode = serializers.CharField()
    role = serializers.CharField()
    contact_email = serializers.CharField()
    phone = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    default_currency = serializers.CharField()
    invoice_number_prefix = serializers.CharField()
    version = serializers.IntegerField(help_text="Send it back (or its ETag as If-Match) with a change.")


INVOICE_PREFIX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_/-]{0,11}$"


class TenantProfileFields(StrictSerializer):
    """The editable profile; every field optional (a PATCH names only what changes)."""

    name = serializers.CharField(max_length=200, required=False)
    contact_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    address_line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address_line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.RegexField(
        r"^([A-Z]{2})?$",
        max_length=2,
        required=False,
        allow_blank=True,
        help_text="ISO 3166-1 alpha-2 (US, GB, ...), or empty.",
    )
    default_currency = CurrencyChoiceField(required=False, help_text="New invoices get it when they name no currency.")
    invoice_number_prefix = serializers.RegexField(
        INVOICE_PREFIX_PATTERN,
        max_length=12,
        required=False,
        help_text="Put before the number of new invoices (INV- gives INV-000042); issued invoices keep theirs.",
    )


class TenantIn(TenantProfileFields):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=80, required=False, help_text="The tenant's unique short name; made from the name when absent."
    )


class TenantPatch(TenantProfileFields):
    version = serializers.IntegerField(min_value=1, required=False, help_text="The version you read, or If-Match.")


# --- Memberships -----------------------------------------------------------------------------------

MEMBERSHIP_ROLES = TenantMembership.Role.choices


class TenantMemberUserOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class TenantMemberOut(serializers.Serializer):
    id = serializers.IntegerField()
    user = TenantMemberUserOut()
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class TenantMemberIn(StrictSerializer):
    email = serializers.EmailField(
        max_length=254, help_text="The address to invite (an account may or may not use it)."
    )
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices, default=TenantMembership.Role.STAFF)


class TenantMemberPatch(StrictSerializer):
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )


# --- Invitations -----------------------------------------------------------------------------------

#: What an invitation's `status` says: the stored state, with a pending one past its expiry `expired`.
INVITATION_STATUSES = [*InvitationStatus.choices, ("expired", "Expired")]


def invitation_status(invitation: TenantInvitation) -> str:
    if invitation.is_expired():
        return "expired"
    return invitation.status


class InvitationPersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


class TenantInvitationIn(TenantMemberIn):
    """An address and the role offered. Whether an account uses the address changes nothing here."""


class TenantInvitationOut(serializers.Serializer):
    """An invitation as its tenant's owners and admins see it: the address and role offered, never
    anything about an account (there may be none until the invitee signs up)."""

    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices)
    status = serializers.SerializerMethodField()
    invited_by = InvitationPersonOut(allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=INVITATION_STATUSES))
    def get_status(self, invitation) -> str:
        return invitation_status(invitation)


class InvitationTokenIn(StrictSerializer):
    token = serializers.CharField(max_length=200, help_text="The code from the invitation email (its link carries it).")


class AccountInvitationOut(serializers.Serializer):
    """An invitation as the person it is addressed to sees it."""

    id = serializers.IntegerField()
    tenant_id = serializers.IntegerField()
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices)
    status = serializers.SerializerMethodField()
    invited_by = InvitationPersonOut(allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=INVITATION_STATUSES))
    def get_status(self, invitation) -> str:
        return invitation_status(invitation)


class InvitationAcceptedOut(serializers.Serializer):
    """The membership an accepted invitation made."""

    membership_id = serializers.IntegerField(source="id")
    tenant_id = serializers.IntegerField()
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.ChoiceField(choices=TenantMembership.Role.choices)
    created_at = serializers.DateTimeField()


# --- Refunds ---------------------------------------------------------------------------------------


class RefundOut(serializers.Serializer):
    """One refund: a `Payment` row of kind `refund` and the credit note it issued."""

    id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    credit_note_number = serializers.CharField(source="credit_note.credit_note_number")
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    reason = serializers.CharField(source="credit_note.reason")
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    provider_reference = serializers.CharField(
        source="external_reference", help_text="The processor's id (a Stripe refund or charge), if any."
    )
    recorded_by = serializers.EmailField(source="recorded_by.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class RefundIn(StrictSerializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=MAX_AMOUNT_CENTS)
    reason = serializers.CharField(max_length=2000)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The invoice version you last read; or send it as If-Match."
    )
