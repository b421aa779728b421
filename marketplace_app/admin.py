"""Back office for the marketplace. Money and state move only through services: the financial
models are read-only here, and counters and statuses are never edited by hand (that would bypass
the state machines, the version check and the F() counters)."""

from django.contrib import admin, messages
from django.db import models

from marketplace_app import services
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceLineItem,
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


class ReadOnlyAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS_HTTPS

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MarketplaceUser)
class MarketplaceUserAdmin(admin.ModelAdmin):
    list_display = ("id", "email", "display_name", "kind", "deleted_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("email", "display_name")
    readonly_fields = ("tenant_user_id", "deleted_at", "created_at", "updated_at")

    def get_queryset(self, request):
        return MarketplaceUser.all_objects.all()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("id", "business_name", "kind", "city", "state", "total_listings", "total_transactions",
                    "total_revenue_cents", "deleted_at")
    list_filter = ("kind", "payment_mode")
    search_fields = ("business_name", "user__email")
    readonly_fields = ("user", "kind", "tenant_id", "total_listings", "total_transactions", "total_revenue_cents",
                       "deleted_at", "created_at", "updated_at")
    actions = ["soft_delete"]

    def get_queryset(self, request):
        return Provider.all_objects.select_related("user")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # providers are only ever soft-deleted, through the action below

    @admin.action(description="Soft-delete the selected providers (hide them from the marketplace)")
    def soft_delete(self, request, queryset):
        for provider in queryset:
            services.provider_delete(provider_id=provider.pk)
        self.message_user(request, f"{queryset.count()} provider(s) soft-deleted.", messages.SUCCESS)


class ServiceListingImageInline(admin.TabularInline):
    model = ServiceListingImage
    formfield_overrides = URL_FIELDS_HTTPS
    extra = 0


@admin.register(ServiceListing)
class ServiceListingAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "provider", "category", "status", "state", "city", "price_cents", "currency")
    list_filter = ("status", "category")
    search_fields = ("title", "slug")
    readonly_fields = ("provider", "status", "currency", "published_at", "created_at", "updated_at")
    exclude = ("search_vector",)
    inlines = [ServiceListingImageInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MarketplaceTransaction)
class MarketplaceTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "client", "status", "amount_cents", "refunded_cents", "currency",
                    "invoice_type", "invoice_id", "created_at")
    list_filter = ("status", "invoice_type")
    list_select_related = ("provider", "client")


class LineItemInline(admin.TabularInline):
    model = MarketplaceInvoiceLineItem
    formfield_overrides = URL_FIELDS_HTTPS
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MarketplaceInvoice)
class MarketplaceInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("id", "number", "provider", "client", "status", "total_cents", "refunded_cents", "currency",
                    "payment_mode_snapshot", "reconciliation_status", "version")
    list_filter = ("status", "payment_mode_snapshot", "reconciliation_status")
    list_select_related = ("provider", "client")
    search_fields = ("number",)
    inlines = [LineItemInline]


@admin.register(MessageThread)
class MessageThreadAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "buyer", "subject", "last_message_at")
    list_select_related = ("provider", "buyer")


@admin.register(UserBlock)
class UserBlockAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "blocked_user", "reason", "created_at")
    list_select_related = ("provider", "blocked_user")
