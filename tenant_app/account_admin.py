"""Back office for accounts' own tables: emailed account tokens and the account audit log. Both are
read-only; a token's hash is never shown (a copy of the hash is harmless, but nothing on the page
needs it)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin
from tenant_app.models import AccountAuditLog, AccountToken


class _ReadOnly(LargeTableAdminMixin, ReadOnlyAdminMixin):
    """Written by the platform, never by hand; big tables (no full count, index-backed searches)."""


@admin.register(AccountToken)
class AccountTokenAdmin(_ReadOnly, admin.ModelAdmin):
    """Which links were sent to whom and what became of them (tenant_app/accounts.py). Dead tokens
    are purged after ACCOUNT_TOKEN_RETENTION_DAYS (tenant_app/account_tokens.py)."""

    list_display = ("id", "user", "purpose", "email", "state", "created_at", "expires_at", "used_at", "voided_at")
    list_filter = ("purpose",)
    list_select_related = ("user",)
    search_fields = ("^user__email",)
    date_hierarchy = "created_at"
    exclude = ("token_hash",)
    readonly_fields = ("state",)

    @admin.display(description="state")
    def state(self, token) -> str:
        if token.used_at:
            return "used"
        if token.voided_at:
            return "replaced"
        return "expired" if token.expires_at <= timezone.now() else "open"


@admin.register(AccountAuditLog)
class AccountAuditLogAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("id", "user_id", "action", "ip_address", "created_at")
    list_filter = ("action",)
    search_fields = ("=user_id",)
    date_hierarchy = "created_at"
