from django.contrib import admin

from breederhq.backoffice.actions import audited_action
from breederhq.email import email_resend
from breederhq.models import (
    MarketplaceDbAuthorizationAudit,
    MarketplaceDbIdempotencyKey,
    MarketplaceDbOutboundEmail,
    TenantDbAuthorizationAudit,
    TenantDbCrossTenantQueryAudit,
    TenantDbIdempotencyKey,
    TenantDbOutboundEmail,
)


class ReadOnlyAdminMixin:
    """Records written by the platform: staff look, never edit or delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _resend(email, user):
    return email_resend(using=email._state.db, pk=email.pk).status


class OutboundEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("template", "recipients", "subject", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("event_key", "subject", "to")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in TenantDbOutboundEmail._meta.fields]
    actions = [audited_action("resend_email", "Resend selected emails", perform=_resend, permissions=("view",))]

    @admin.display(description="to")
    def recipients(self, obj):
        return ", ".join(obj.to)


class IdempotencyKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "scope", "method", "path", "status", "response_status", "created_at", "expires_at")
    list_filter = ("status", "method")
    search_fields = ("key", "scope", "path")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in TenantDbIdempotencyKey._meta.fields]


admin.site.register(TenantDbOutboundEmail, OutboundEmailAdmin)
admin.site.register(MarketplaceDbOutboundEmail, OutboundEmailAdmin)
admin.site.register(TenantDbIdempotencyKey, IdempotencyKeyAdmin)
admin.site.register(MarketplaceDbIdempotencyKey, IdempotencyKeyAdmin)


class AuthorizationAuditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("requested_at", "user_id", "action", "resource_type", "resource_id", "allowed", "ip_address")
    list_filter = ("allowed", "action", "resource_type")
    search_fields = ("user_id", "resource_id", "reason")
    date_hierarchy = "requested_at"
    readonly_fields = [f.name for f in TenantDbAuthorizationAudit._meta.fields]


class CrossTenantQueryAuditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("executed_at", "user_id", "target_tenant_id", "query_type", "allowed")
    list_filter = ("allowed", "query_type")
    search_fields = ("user_id", "target_tenant_id", "reason")
    date_hierarchy = "executed_at"
    readonly_fields = [f.name for f in TenantDbCrossTenantQueryAudit._meta.fields]


admin.site.register(TenantDbAuthorizationAudit, AuthorizationAuditAdmin)
admin.site.register(MarketplaceDbAuthorizationAudit, AuthorizationAuditAdmin)
admin.site.register(TenantDbCrossTenantQueryAudit, CrossTenantQueryAuditAdmin)
