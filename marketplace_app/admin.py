"""Back office for the marketplace. Money and state move only through services: the financial
models are read-only here, and counters and statuses are never edited by hand (that would bypass
the state machines, the version check and the F() counters). Actions are confirmed, give a reason
and write a StaffActionAudit row (breederhq.backoffice.actions.audited_action); references into
the tenant database are links resolved in batch (breederhq.backoffice.admin_tools)."""

from django.contrib import admin
from django.db import models

from breederhq.backoffice.actions import audited_action
from breederhq.backoffice.admin_tools import (
    BackofficeActionsMixin,
    CrossDatabaseLinksMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    money,
)
from breederhq.backoffice.invoice_documents import document_link
from breederhq.backoffice.receipts import receipt_link
from breederhq.invoicing.admin import OverdueFilter, ReadOnlyInline, documents_inline, timeline_inlines
from breederhq.reconciliation import ReconciliationStatus
from marketplace_app import services
from marketplace_app.document_models import MarketplaceInvoiceDocument
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplaceInvoiceLineItem,
    MarketplacePaymentConfirmationAudit,
    MarketplaceTransaction,
    MarketplaceUser,
    MessageThread,
    Provider,
    ServiceListing,
    ServiceListingImage,
    UserBlock,
)

# Django 6 makes https the default scheme of URL form fields; say so now (and silence the warning).
URL_FIELDS_HTTPS = {models.URLField: {"assume_scheme": "https"}}


class BackofficeAdmin(LargeTableAdminMixin, CrossDatabaseLinksMixin, BackofficeActionsMixin, admin.ModelAdmin):
    formfield_overrides = URL_FIELDS_HTTPS


class ReadOnlyAdmin(ReadOnlyAdminMixin, BackofficeAdmin):
    """Marketplace records written by the platform, with the back office's links and actions."""


@admin.register(MarketplaceUser)
class MarketplaceUserAdmin(BackofficeAdmin):
    crossdb_links = ("tenant_user_id",)
    list_display = ("id", "email", "display_name", "kind", "tenant_user_id_link", "deleted_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("^email",)
    date_hierarchy = "created_at"
    readonly_fields = ("tenant_user_id_link", "tenant_user_id", "deleted_at", "created_at", "updated_at")

    def get_queryset(self, request):
        return MarketplaceUser.all_objects.all()

    def has_delete_permission(self, request, obj=None):
        return False


def _provider_delete(provider, user):
    return "deleted" if services.provider_delete(provider_id=provider.pk).deleted_at else "not deleted"


def _provider_restore(provider, user):
    return "restored" if services.provider_restore(provider_id=provider.pk).deleted_at is None else "still deleted"


def _provider_suspend(provider, user, reason):
    from marketplace_app.provider_suspension import provider_suspend

    provider_suspend(provider_id=provider.pk, reason=reason, actor_label=_staff(user))
    return "suspended"


def _provider_reinstate(provider, user, reason):
    from marketplace_app.provider_suspension import provider_reinstate

    provider_reinstate(provider_id=provider.pk, reason=reason, actor_label=_staff(user))
    return "reinstated"


@admin.register(Provider)
class ProviderAdmin(BackofficeAdmin):
    crossdb_links = ("tenant_id",)
    revenue = money("total_revenue_cents")
    list_display = (
        "id",
        "business_name",
        "kind",
        "tenant_id_link",
        "city",
        "state",
        "total_listings",
        "total_transactions",
        "revenue",
        "suspended",
        "deleted_at",
    )
    list_filter = ("kind", "payment_mode")
    search_fields = ("^business_name", "^user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "user",
        "kind",
        "tenant_id_link",
        "tenant_id",
        "total_listings",
        "total_transactions",
        "revenue",
        "version",
        "deleted_at",
        "created_at",
        "updated_at",
    )
    exclude = ("total_revenue_cents",)
    actions = [
        audited_action(
            "soft_delete_provider",
            "Soft-delete the selected providers (hide them from the marketplace)",
            perform=_provider_delete,
            permissions=("support_action",),
        ),
        audited_action(
            "restore_provider",
            "Restore the selected soft-deleted providers",
            perform=_provider_restore,
            permissions=("support_action",),
        ),
        # Suspension (marketplace_app/provider_suspension.py): the owner is emailed the reason; the
        # provider and its listings leave the public marketplace until reinstated.
        audited_action(
            "suspend_provider",
            "Suspend the selected providers (the owner is told the reason)",
            perform=_provider_suspend,
            permissions=("support_action",),
            pass_reason=True,
        ),
        audited_action(
            "reinstate_provider",
            "Reinstate the selected suspended providers (the owner is told)",
            perform=_provider_reinstate,
            permissions=("support_action",),
            pass_reason=True,
        ),
    ]

    def get_queryset(self, request):
        from marketplace_app.provider_suspension import not_suspended

        return Provider.all_objects.select_related("user").annotate(in_good_standing=not_suspended())

    @admin.display(boolean=True, description="suspended")
    def suspended(self, provider) -> bool:
        return not provider.in_good_standing

    def save_model(self, request, obj, form, change):
        # A staff edit is a write like the services': an API client holding the old version gets a 409.
        if change:
            obj.version = models.F("version") + 1
        super().save_model(request, obj, form, change)
        if change:
            obj.refresh_from_db(fields=["version"])

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # providers are only ever soft-deleted, through the action above


class ServiceListingImageInline(admin.TabularInline):
    model = ServiceListingImage
    formfield_overrides = URL_FIELDS_HTTPS
    extra = 0
    # Uploaded files pass the API's checks (marketplace_app/listing_images.py): never replaced here.
    readonly_fields = ("original", "thumbnail", "content_type", "width", "height", "byte_size")


def _listing_take_down(listing, user):
    return services.listing_transition(listing_id=listing.pk, target=ServiceListing.Status.PAUSED).status


def _listing_restore(listing, user):
    return services.listing_transition(listing_id=listing.pk, target=ServiceListing.Status.ACTIVE).status


def _listing_hide(listing, user, reason):
    from marketplace_app.moderation import listing_hide

    return f"hidden ({listing_hide(listing_id=listing.pk, reason=reason, actor_label=_staff(user)).reason[:40]})"


def _listing_reinstate(listing, user, reason):
    from marketplace_app.moderation import listing_reinstate

    listing_reinstate(listing_id=listing.pk, reason=reason, actor_label=_staff(user))
    return "reinstated"


@admin.register(ServiceListing)
class ServiceListingAdmin(BackofficeAdmin):
    price = money("price_cents")
    list_display = ("id", "title", "provider", "category", "status", "state", "city", "price")
    list_filter = ("status", "category")
    list_select_related = ("provider",)
    search_fields = ("^title", "=slug")
    date_hierarchy = "created_at"
    readonly_fields = ("provider", "status", "price", "currency", "published_at", "created_at", "updated_at")
    exclude = ("search_vector", "price_cents")
    inlines = [ServiceListingImageInline]
    # Listings have no deleted_at: "soft delete" takes one off the marketplace (paused, history and
    # counters intact) and "restore" puts it back (active), both through the listing state machine.
    actions = [
        audited_action(
            "take_down_listing",
            "Take the selected listings off the marketplace (soft delete)",
            perform=_listing_take_down,
            permissions=("support_action",),
        ),
        audited_action(
            "restore_listing",
            "Restore the selected listings to the marketplace",
            perform=_listing_restore,
            permissions=("support_action",),
        ),
        # Moderation (marketplace_app/moderation.py): the provider is emailed the reason and cannot
        # publish the listing again until it is reinstated.
        audited_action(
            "hide_listing",
            "Hide the selected listings (moderation: the provider is told the reason)",
            perform=_listing_hide,
            permissions=("support_action",),
            pass_reason=True,
        ),
        audited_action(
            "reinstate_listing",
            "Reinstate the selected hidden listings (the provider is told)",
            perform=_listing_reinstate,
            permissions=("support_action",),
            pass_reason=True,
        ),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MarketplaceTransaction)
class MarketplaceTransactionAdmin(ReadOnlyAdmin):
    crossdb_links = ("invoice_id",)
    amount = money("amount_cents")
    refunded = money("refunded_cents")
    list_display = (
        "id",
        "provider",
        "client",
        "status",
        "amount",
        "refunded",
        "invoice_type",
        "invoice_id_link",
        "created_at",
    )
    list_filter = ("status", "invoice_type", "currency")
    list_select_related = ("provider", "client")
    search_fields = ("=id", "^client__email", "^provider__business_name")
    date_hierarchy = "created_at"
    readonly_fields = ("amount", "refunded", "invoice_id_link")


class LineItemInline(ReadOnlyInline):
    model = MarketplaceInvoiceLineItem
    formfield_overrides = URL_FIELDS_HTTPS


def _staff(user) -> str:
    return f"staff:{user.get_username()}"


def _mi_resolve(invoice, user, reason):
    # The rule (only a disagreement is resolved) is the service's: a refusal is shown as such.
    return services.marketplace_invoice_set_reconciliation_status(
        invoice_id=invoice.pk, status=ReconciliationStatus.RESOLVED, note=reason, actor_label=_staff(user)
    ).reconciliation_status


def _mi_confirm(invoice, user):
    invoice, changed = services.marketplace_invoice_mark_paid(
        invoice_id=invoice.pk, source="manual", actor_label=_staff(user)
    )
    return invoice.status if changed else f"already {invoice.status}"


def _mi_reject(invoice, user, reason):
    return services.marketplace_invoice_reject_payment_claim(
        invoice_id=invoice.pk, expected_version=None, actor_label=_staff(user), reason=reason
    ).status


def _mi_soft_delete(invoice, user, reason):
    from marketplace_app.invoice_deletion import marketplace_invoice_delete

    return (
        "deleted"
        if marketplace_invoice_delete(invoice_id=invoice.pk, actor_label=_staff(user)).deleted_at
        else "not deleted"
    )


@admin.register(MarketplaceInvoice)
class MarketplaceInvoiceAdmin(ReadOnlyAdmin):
    total = money("total_cents")
    refunded = money("refunded_cents")
    list_display = (
        "id",
        "invoice_number",
        "provider",
        "client",
        "status",
        "total",
        "refunded",
        "payment_mode_snapshot",
        "reconciliation_status",
        "due_date",
        "version",
        "deleted_at",
    )
    list_filter = ("status", OverdueFilter, "payment_mode_snapshot", "reconciliation_status")
    list_select_related = ("provider", "client")
    search_fields = ("=invoice_number",)
    date_hierarchy = "created_at"
    # The receipt opens through the back office's permission-checked, audited download (not /media/).
    receipt = receipt_link("marketplace")
    exclude = ("buyer_payment_receipt",)
    readonly_fields = ("receipt",)
    inlines = [
        LineItemInline,
        documents_inline(document_model=MarketplaceInvoiceDocument, kind="marketplace"),
        *timeline_inlines(
            audit_model=MarketplaceInvoiceAuditLog,
            confirmation_model=MarketplacePaymentConfirmationAudit,
            claimant_field="marked_paid_by",
        ),
    ]
    actions = [
        audited_action(
            "confirm_marketplace_payment",
            "Confirm the buyer's manual payment",
            perform=_mi_confirm,
            permissions=("payment_action",),
        ),
        audited_action(
            "reject_marketplace_payment",
            "Reject (or expire) the buyer's manual payment claim",
            perform=_mi_reject,
            permissions=("payment_action",),
            pass_reason=True,
        ),
        audited_action(
            "resolve_marketplace_reconciliation",
            "Mark the reconciliation disagreement resolved",
            perform=_mi_resolve,
            permissions=("payment_action",),
            pass_reason=True,
        ),
        # Never a hard delete (ReadOnlyAdmin has no delete permission): drafts and void invoices only.
        audited_action(
            "soft_delete_marketplace_invoice",
            "Soft-delete the selected draft or void invoices",
            perform=_mi_soft_delete,
            permissions=("support_action",),
            pass_reason=True,
        ),
    ]

    def get_queryset(self, request):
        return MarketplaceInvoice.all_objects.all()


@admin.register(MarketplaceInvoiceDocument)
class MarketplaceInvoiceDocumentAdmin(ReadOnlyAdmin):
    """Stored invoice and credit-note PDFs (append-only), opened through the audited back-office view."""

    pdf = document_link("marketplace")
    list_display = ("number", "kind", "invoice", "version", "size", "created_at", "pdf")
    list_select_related = ("invoice",)
    list_filter = ("kind",)
    search_fields = ("=invoice__invoice_number",)
    date_hierarchy = "created_at"
    exclude = ("file",)
    readonly_fields = ("pdf",)


@admin.register(MessageThread)
class MessageThreadAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "buyer", "subject", "last_message_at")
    list_select_related = ("provider", "buyer")
    search_fields = ("^buyer__email", "^provider__business_name")


def _unblock(block, user):
    return (
        f"{services.user_block_delete(provider_id=block.provider_id, user_id=block.blocked_user_id)} block(s) removed"
    )


@admin.register(UserBlock)
class UserBlockAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "blocked_user", "reason", "created_at")
    list_select_related = ("provider", "blocked_user")
    search_fields = ("^blocked_user__email", "^provider__business_name")
    date_hierarchy = "created_at"
    actions = [
        audited_action("unblock_user", "Unblock the selected users", perform=_unblock, permissions=("support_action",))
    ]


from marketplace_app import listing_admin  # noqa: E402,F401  (listing images, moderation)
