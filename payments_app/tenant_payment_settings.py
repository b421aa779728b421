"""The tenant's marketplace payment mode (stripe / manual / disabled), read and changed by its owners
and admins at the version they read.

The change locks the tenant row, the lock invoice creation takes while it copies the mode into
`payment_mode_snapshot` (tenant_app.services.invoices.invoice_create): an invoice created during a change
gets either the old mode (it took the lock first) or the new one (it waited), never a mix. Stripe
mode is refused (409 `stripe_account_not_ready`) until the tenant's connected account can take
payments; the account row is locked too, so Stripe's `account.updated` cannot disable it between
the check and the commit (and if it does afterwards, new invoices fall back to manual: the
fallback in invoice creation reads the account under the same tenant lock).
Each change bumps the tenant's `version` (its ETag) and writes a `tenant_profile_audit_log` row
with who, when and {"marketplace_payment_mode": [from, to]}.
"""

from __future__ import annotations

from django.db import transaction

from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied, ValidationFailed, VersionConflict
from breederhq.tenancy import require_tenant_id
from tenant_app.models import PaymentMode, Tenant, TenantMembership, TenantProfileAuditLog, User

DB = TENANT_DB
#: Who may change the payment mode.
PAYMENT_SETTINGS_ROLES = (TenantMembership.Role.OWNER, TenantMembership.Role.ADMIN)


def tenant_payment_mode_set(*, actor: User, mode: str, expected_version: int) -> Tenant:
    """Change the current tenant's payment mode (owners and admins, 403 `role_forbidden`) at the
    version the caller read (409 `version_conflict`). Setting the mode it already has changes
    nothing (no new version, no audit row)."""
    # payments_app sits on top of tenant_app: imported here, not at module level.
    from payments_app.models import StripeConnectAccount
    from payments_app.onboarding import require_ready
    from tenant_app.services.tenants import _tenant_audit

    if mode not in PaymentMode.values:
        raise ValidationFailed(
            "Unknown payment mode.", field_errors={"payment_mode": [f"not one of {PaymentMode.values}"]}
        )
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        role = TenantMembership.objects.filter(tenant_id=tenant_id, user=actor).values_list("role", flat=True).first()
        if role not in PAYMENT_SETTINGS_ROLES:
            raise PermissionDenied("Only an owner or admin may change the payment mode.", code="role_forbidden")
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if expected_version != tenant.version:
            raise VersionConflict(entity=f"Tenant #{tenant_id}", expected=expected_version, current=tenant.version)
        old = tenant.marketplace_payment_mode
        if mode == old:
            return tenant
        if mode == PaymentMode.STRIPE:
            account = (
                StripeConnectAccount.objects.using(DB)
                .select_for_update(no_key=True)
                .filter(owner_tenant_id=tenant_id)
                .first()
            )
            require_ready(account, who=f"Tenant {tenant.name}")
        tenant.marketplace_payment_mode = mode
        tenant.version += 1
        tenant.save(update_fields=["marketplace_payment_mode", "version", "updated_at"])
        _tenant_audit(
            tenant,
            action=TenantProfileAuditLog.Action.UPDATED,
            actor=actor,
            changes={"marketplace_payment_mode": [old, mode]},
        )
    return tenant
