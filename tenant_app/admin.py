"""Back office for the tenant database.

Tenant-owned tables force row-level security: every page of them runs in the tenant the staff
member chose on "Work on a tenant", through the audited `support_tenant_access` path
(breederhq/backoffice/admin_tools.TenantScopedAdminMixin). Nothing here is edited by hand: invoices,
payments, credit notes and audit rows are ledger records changed only by services (the version
check, the state machine and the audit trail live there); the actions below call those services.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html

from breederhq.backoffice.actions import audited_action
from breederhq.backoffice.admin_tools import (
    BackofficeActionsMixin,
    CrossDatabaseLinksMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    TenantScopedAdminMixin,
    money,
)
from breederhq.backoffice.invoice_documents import document_link
from breederhq.backoffice.receipts import receipt_link
from breederhq.invoicing.admin import OverdueFilter, ReadOnlyInline, documents_inline, timeline_inlines
from tenant_app import services
from tenant_app.document_models import InvoiceDocument
from tenant_app.models import (
    Contact,
    CreditNote,
    DocumentSequence,
    Invoice,
    InvoiceAuditLog,
    InvoiceLineItem,
    MembershipAuditLog,
    Payment,
    PaymentConfirmationAudit,
    ReconciliationStatus,
    Tenant,
    TenantInvitation,
    TenantMembership,
    User,
)


def _all_fields(model) -> list[str]:
    return [f.name for f in model._meta.fields]


# --- Global tables -------------------------------------------------------------------------------------


def _reset_second_factor(user, actor):
    from breederhq.backoffice.second_factor import second_factor_reset

    return second_factor_reset(target=user, actor=actor)


def _sign_out_everywhere(user, staff):
    from breederhq.api.sessions import user_sign_out_everywhere

    return f"tokens issued before {user_sign_out_everywhere(user_id=user.pk).isoformat()} are void"


def _soft_delete_user(user, staff):
    from tenant_app.user_deletion import user_soft_delete

    return f"deactivated and soft-deleted at {user_soft_delete(user_id=user.pk).deleted_at.isoformat()}"


@admin.register(User)
class UserAdmin(LargeTableAdminMixin, BackofficeActionsMixin, DjangoUserAdmin):
    list_display = (
        "email",
        "username",
        "first_name",
        "last_name",
        "is_staff",
        "is_superuser",
        "is_active",
        "second_factor",
        "last_login",
        "deleted_at",
        "view_as",
    )
    search_fields = ("^email",)
    date_hierarchy = "date_joined"
    # A staff member who lost their phone and recovery codes: remove their devices (audited, with a
    # reason); they set up a new one at their next sign-in (docs/operations/staff-2fa.md).
    # A stolen device or token: every API token of the user stops working within a second.
    actions = [
        audited_action(
            "reset_second_factor",
            "Reset the second factor of selected staff",
            perform=_reset_second_factor,
            permissions=("reset_second_factor",),
        ),
        audited_action(
            "sign_out_everywhere",
            "Sign the selected users out everywhere (void every API token)",
            perform=_sign_out_everywhere,
            permissions=("support_action",),
        ),
        # The marketplace may point at a user: never a hard delete (tenant_app/user_deletion.py).
        # Erasing a person's data is the personal-data flow (docs/operations/runbook.md).
        audited_action(
            "soft_delete_user",
            "Deactivate and soft-delete the selected accounts",
            perform=_soft_delete_user,
            permissions=("support_action",),
        ),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # soft delete only, through the action above

    def has_reset_second_factor_permission(self, request):
        return request.user.has_perm("backoffice.reset_second_factor")

    def get_queryset(self, request):
        from django.db.models import Exists, OuterRef
        from django_otp.plugins.otp_totp.models import TOTPDevice

        return (
            super()
            .get_queryset(request)
            .annotate(second_factor_enrolled=Exists(TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True)))
        )

    @admin.display(description="second factor", boolean=True)
    def second_factor(self, obj):
        if not (obj.is_staff or obj.is_superuser):
            return None
        return getattr(obj, "second_factor_enrolled", False)

    @admin.display(description="")
    def view_as(self, obj):
        if obj.is_staff or obj.is_superuser:
            return ""
        return format_html('<a href="{}?user={}">view the API as</a>', reverse("backoffice:view_as"), obj.pk)


@admin.register(Tenant)
class TenantAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Global table (no private data): listed without a tenant context."""

    list_display = ("id", "name", "slug", "marketplace_payment_mode", "created_at", "deleted_at", "work_on")
    list_filter = ("marketplace_payment_mode",)
    search_fields = ("=slug",)
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return Tenant.all_objects.all()

    @admin.display(description="")
    def work_on(self, obj):
        return format_html('<a href="{}?tenant={}">work on this tenant</a>', reverse("backoffice:support"), obj.pk)


# --- Tenant-owned tables (audited tenant path) ----------------------------------------------------------


class TenantOwnedAdmin(
    LargeTableAdminMixin,
    TenantScopedAdminMixin,
    CrossDatabaseLinksMixin,
    BackofficeActionsMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    pass


@admin.register(TenantMembership)
class TenantMembershipAdmin(TenantOwnedAdmin):
    list_display = ("id", "user", "role", "tenant", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "tenant")
    search_fields = ("^user__email",)
    date_hierarchy = "created_at"


@admin.register(TenantInvitation)
class TenantInvitationAdmin(TenantOwnedAdmin):
    """Read-only for support: who was invited, with what role, and what became of it. The token's hash
    is not shown, and the token itself is kept only in the queued email until it is sent (then removed
    from the row; the email pages never show it: breederhq.email.SECRETS_IN_TEMPLATES)."""

    list_display = (
        "id",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "responded_at",
        "responded_by",
    )
    list_filter = ("status", "role")
    list_select_related = ("invited_by", "responded_by")
    search_fields = ("=email",)
    date_hierarchy = "created_at"
    exclude = ("token_hash",)


@admin.register(Contact)
class ContactAdmin(TenantOwnedAdmin):
    crossdb_links = ("marketplace_user_id",)
    list_display = (
        "id",
        "display_name",
        "kind",
        "email",
        "phone",
        "city",
        "country",
        "marketplace_user_id_link",
        "deleted_at",
        "created_at",
    )
    list_filter = ("kind", "country")
    search_fields = ("=last_name", "=organization_name", "=email")
    date_hierarchy = "created_at"
    readonly_fields = ("marketplace_user_id_link",)

    def get_queryset(self, request):
        return Contact.all_objects.all()


class LineItemInline(ReadOnlyInline):
    model = InvoiceLineItem
    unit_price = money("unit_price_cents", currency_field="invoice_currency")
    total = money("total_cents", currency_field="invoice_currency")
    fields = readonly_fields = ("sort_order", "description", "quantity", "unit_price", "total")

    def get_queryset(self, request):
        from django.db.models import F

        return super().get_queryset(request).annotate(invoice_currency=F("invoice__currency"))


class PaymentInline(ReadOnlyInline):
    model = Payment
    amount = money("amount_cents")
    fields = readonly_fields = (
        "created_at",
        "kind",
        "method",
        "amount",
        "external_reference",
        "credit_note",
        "recorded_by",
    )


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    amount = money("amount_cents")
    fields = readonly_fields = ("credit_note_number", "amount", "reason", "created_by", "created_at")


def _confirm(invoice, user, reason):
    return services.invoice_confirm_payment(
        invoice_id=invoice.pk, actor=user, reference=f"back office: {reason}"[:255]
    ).status


def _reject(invoice, user, reason):
    return services.invoice_reject_payment(invoice_id=invoice.pk, actor=user, reason=reason).status


def _expire(invoice, user):
    return services.invoice_expire_payment_claim(
        invoice_id=invoice.pk, actor=user, actor_label=f"staff:{user.get_username()}"
    ).status


def _resolve(invoice, user, reason):
    # The rule (only a disagreement is resolved) is the service's: a refusal is shown as such.
    return services.invoice_set_reconciliation_status(
        invoice_id=invoice.pk, status=ReconciliationStatus.RESOLVED, note=reason, actor=user
    ).reconciliation_status


@admin.register(Invoice)
class InvoiceAdmin(TenantOwnedAdmin):
    total = money("total_cents")
    paid = money("paid_cents")
    refunded = money("refunded_cents")
    subtotal = money("subtotal_cents")
    tax = money("tax_cents")
    list_display = (
        "invoice_number",
        "contact",
        "status",
        "total",
        "paid",
        "refunded",
        "payment_mode_snapshot",
        "reconciliation_status",
        "is_marketplace_invoice",
        "due_date",
        "created_at",
    )
    list_filter = (
        "status",
        OverdueFilter,
        "payment_mode_snapshot",
        "reconciliation_status",
        "is_marketplace_invoice",
        "currency",
    )
    list_select_related = ("contact",)
    search_fields = ("=invoice_number", "=contact__last_name", "=contact__organization_name", "=contact__email")
    date_hierarchy = "created_at"
    # The receipt opens through the back office's permission-checked, audited download (not /media/).
    receipt = receipt_link("tenant")
    readonly_fields = (
        "subtotal",
        "tax",
        "total",
        "paid",
        "refunded",
        "receipt",
        *(f for f in _all_fields(Invoice) if not f.endswith("_cents") and f != "buyer_payment_receipt"),
    )
    exclude = ("subtotal_cents", "tax_cents", "total_cents", "paid_cents", "refunded_cents", "buyer_payment_receipt")
    inlines = [
        LineItemInline,
        PaymentInline,
        CreditNoteInline,
        documents_inline(document_model=InvoiceDocument, kind="tenant"),
        *timeline_inlines(
            audit_model=InvoiceAuditLog,
            confirmation_model=PaymentConfirmationAudit,
            claimant_field="marked_paid_by_marketplace_user_id",
        ),
    ]
    actions = [
        audited_action(
            "confirm_manual_payment",
            "Confirm the buyer's manual payment",
            perform=_confirm,
            permissions=("payment_action",),
            pass_reason=True,
        ),
        audited_action(
            "reject_manual_payment",
            "Reject the buyer's manual payment claim",
            perform=_reject,
            permissions=("payment_action",),
            pass_reason=True,
        ),
        audited_action(
            "expire_manual_payment",
            "Expire the buyer's manual payment claim now",
            perform=_expire,
            permissions=("payment_action",),
        ),
        audited_action(
            "resolve_reconciliation",
            "Mark the reconciliation disagreement resolved",
            perform=_resolve,
            permissions=("payment_action",),
            pass_reason=True,
        ),
    ]

    def get_queryset(self, request):
        return Invoice.all_objects.all()


@admin.register(Payment)
class PaymentAdmin(TenantOwnedAdmin):
    amount = money("amount_cents")
    list_display = ("id", "invoice", "kind", "method", "amount", "external_reference", "created_at")
    list_filter = ("kind", "method", "currency")
    list_select_related = ("invoice",)
    search_fields = ("=invoice__invoice_number",)
    date_hierarchy = "created_at"
    readonly_fields = ("amount", *(f for f in _all_fields(Payment) if f != "amount_cents"))
    exclude = ("amount_cents",)


@admin.register(CreditNote)
class CreditNoteAdmin(TenantOwnedAdmin):
    amount = money("amount_cents")
    list_display = ("credit_note_number", "invoice", "amount", "reason", "created_at")
    list_select_related = ("invoice",)
    search_fields = ("=credit_note_number", "=invoice__invoice_number")
    date_hierarchy = "created_at"
    readonly_fields = ("amount", *(f for f in _all_fields(CreditNote) if f != "amount_cents"))
    exclude = ("amount_cents",)


@admin.register(InvoiceDocument)
class InvoiceDocumentAdmin(TenantOwnedAdmin):
    """Stored invoice and credit-note PDFs (append-only), opened through the audited back-office view."""

    pdf = document_link("tenant")
    list_display = ("number", "kind", "invoice", "version", "size", "created_at", "pdf")
    list_select_related = ("invoice",)
    list_filter = ("kind",)
    search_fields = ("=invoice__invoice_number",)
    date_hierarchy = "created_at"
    readonly_fields = ("pdf", *(f for f in _all_fields(InvoiceDocument) if f != "file"))
    exclude = ("file",)


@admin.register(InvoiceAuditLog)
class InvoiceAuditLogAdmin(TenantOwnedAdmin):
    list_display = ("changed_at", "invoice", "action", "old_status", "new_status", "changed_by", "actor")
    list_filter = ("action", "new_status")
    list_select_related = ("invoice", "changed_by")
    search_fields = ("=invoice__invoice_number",)
    date_hierarchy = "changed_at"


@admin.register(MembershipAuditLog)
class MembershipAuditLogAdmin(TenantOwnedAdmin):
    list_display = ("changed_at", "user", "email", "action", "old_role", "new_role", "changed_by")
    list_filter = ("action", "new_role")
    list_select_related = ("user", "changed_by")
    search_fields = ("^user__email",)
    date_hierarchy = "changed_at"


@admin.register(PaymentConfirmationAudit)
class PaymentConfirmationAuditAdmin(TenantOwnedAdmin):
    crossdb_links = ("marked_paid_by_marketplace_user_id",)
    list_display = (
        "created_at",
        "invoice",
        "event",
        "marked_paid_by_marketplace_user_id_link",
        "confirmed_by",
        "confirmed_by_actor",
        "payment_method",
    )
    list_filter = ("event",)
    list_select_related = ("invoice", "confirmed_by")
    search_fields = ("=invoice__invoice_number",)
    date_hierarchy = "created_at"
    readonly_fields = ("marked_paid_by_marketplace_user_id_link",)


@admin.register(InvoiceLineItem)
class InvoiceLineItemAdmin(TenantOwnedAdmin):
    unit_price = money("unit_price_cents", currency_field="invoice_currency")
    total = money("total_cents", currency_field="invoice_currency")
    list_display = ("id", "invoice", "description", "quantity", "unit_price", "total")
    list_select_related = ("invoice",)
    search_fields = ("=invoice__invoice_number",)
    readonly_fields = ("unit_price", "total", *(f for f in _all_fields(InvoiceLineItem) if not f.endswith("_cents")))
    exclude = ("unit_price_cents", "total_cents")

    def get_queryset(self, request):
        from django.db.models import F

        return super().get_queryset(request).annotate(invoice_currency=F("invoice__currency"))


@admin.register(DocumentSequence)
class DocumentSequenceAdmin(TenantOwnedAdmin):
    list_display = ("id", "kind", "last_value")


from tenant_app import account_admin  # noqa: E402,F401  (account tokens and the account audit log)
