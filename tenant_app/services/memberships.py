"""Memberships: the role rules (who manages, the last owner), leave, change a role, remove a member."""

from __future__ import annotations

from django.db import transaction

from breederhq.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from breederhq.tenancy import require_tenant_id
from tenant_app.models import MembershipAuditLog, TenantMembership, User
from tenant_app.services.common import DB

#: Roles that may manage memberships; only an owner may grant, change or remove the owner role.
MEMBERSHIP_MANAGERS = (TenantMembership.Role.OWNER, TenantMembership.Role.ADMIN)


def _membership_audit(
    membership: TenantMembership, *, action: str, old_role: str, new_role: str, actor: User | None
) -> None:
    MembershipAuditLog.objects.create(
        tenant_id=membership.tenant_id,
        user_id=membership.user_id,
        action=action,
        old_role=old_role,
        new_role=new_role,
        changed_by=actor,
    )


def _check_role(role: str) -> None:
    if role not in TenantMembership.Role.values:
        raise ValidationFailed("Unknown role.", field_errors={"role": [f"not one of {TenantMembership.Role.values}"]})


def _require_manager(actor: User, *, tenant_id: int, touches_owner: bool) -> None:
    """The actor's own membership, read in the same transaction: owners and admins manage, and only
    an owner may grant, change or remove the owner role."""
    role = TenantMembership.objects.filter(tenant_id=tenant_id, user=actor).values_list("role", flat=True).first()
    if role not in MEMBERSHIP_MANAGERS:
        raise PermissionDenied("Only an owner or admin may manage memberships.", code="role_forbidden")
    if touches_owner and role != TenantMembership.Role.OWNER:
        raise PermissionDenied("Only an owner may grant, change or remove the owner role.", code="owner_role_forbidden")


def _lock_membership_for_change(membership_id: int, *, tenant_id: int) -> TenantMembership:
    """Lock every owner membership of the tenant (in id order, so two changes never deadlock), then
    the target. A concurrent demotion or removal of another owner waits here and then re-reads, so
    two of them can never both leave the tenant without an owner."""
    list(
        TenantMembership.objects.select_for_update()
        .filter(tenant_id=tenant_id, role=TenantMembership.Role.OWNER)
        .order_by("id")
        .values_list("id", flat=True)
    )
    membership = (
        TenantMembership.objects.select_for_update()
        .select_related("user")
        .filter(tenant_id=tenant_id, pk=membership_id)
        .first()
    )
    if membership is None:
        raise NotFound(f"Membership {membership_id} not found.")
    return membership


def _refuse_losing_the_last_owner(membership: TenantMembership, *, what: str, detail: str | None = None) -> None:
    """The one rule: a tenant always keeps an owner (409 `last_owner`). Call it with the owner
    memberships locked (_lock_membership_for_change)."""
    if membership.role != TenantMembership.Role.OWNER:
        return
    others = (
        TenantMembership.objects.filter(tenant_id=membership.tenant_id, role=TenantMembership.Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
    if not others:
        raise Conflict(
            detail
            or f"{membership.user.email} is the tenant's last owner and cannot be {what}: "
            f"make another member owner first.",
            code="last_owner",
        )


def membership_leave(*, actor: User) -> None:
    """The signed-in member leaves the current tenant. The last owner may not (409 `last_owner`):
    someone must be able to manage the tenant; make another member owner first."""
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        own_id = TenantMembership.objects.filter(tenant_id=tenant_id, user=actor).values_list("pk", flat=True).first()
        if own_id is None:
            raise NotFound("You are not a member of this tenant.", code="not_a_member")
        membership = _lock_membership_for_change(own_id, tenant_id=tenant_id)
        _refuse_losing_the_last_owner(
            membership,
            what="leave",
            detail="You are this tenant's last owner: make another member owner before leaving.",
        )
        _membership_audit(
            membership, action=MembershipAuditLog.Action.LEFT, old_role=membership.role, new_role="", actor=actor
        )
        membership.delete()


def membership_change_role(
    *, membership_id: int, role: str, actor: User, expected_version: int | None = None
) -> TenantMembership:
    _check_role(role)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        membership = _lock_membership_for_change(membership_id, tenant_id=tenant_id)
        if expected_version is not None and expected_version != membership.version:
            raise VersionConflict(
                entity=f"Membership {membership_id}", expected=expected_version, current=membership.version
            )
        touches_owner = TenantMembership.Role.OWNER in (role, membership.role)
        _require_manager(actor, tenant_id=tenant_id, touches_owner=touches_owner)
        if membership.role == role:
            return membership
        if role != TenantMembership.Role.OWNER:
            _refuse_losing_the_last_owner(membership, what="demoted")
        old_role = membership.role
        membership.role = role
        membership.version += 1
        membership.save(update_fields=["role", "version"])
        _membership_audit(
            membership, action=MembershipAuditLog.Action.ROLE_CHANGED, old_role=old_role, new_role=role, actor=actor
        )
    return membership


def membership_delete(*, membership_id: int, actor: User, expected_version: int | None = None) -> None:
    """Remove a member (the row is deleted; the audit trail keeps who and when). Their next request
    to this tenant is refused: every request re-reads the live memberships."""
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        membership = _lock_membership_for_change(membership_id, tenant_id=tenant_id)
        if expected_version is not None and expected_version != membership.version:
            raise VersionConflict(
                entity=f"Membership {membership_id}", expected=expected_version, current=membership.version
            )
        _require_manager(actor, tenant_id=tenant_id, touches_owner=membership.role == TenantMembership.Role.OWNER)
        _refuse_losing_the_last_owner(membership, what="removed")
        _membership_audit(
            membership, action=MembershipAuditLog.Action.REMOVED, old_role=membership.role, new_role="", actor=actor
        )
        membership.delete()
