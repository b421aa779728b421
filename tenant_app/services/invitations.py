"""Invitations: membership only by the invitee's consent (create, revoke, accept, decline)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from breederhq.errors import Conflict, Gone, NotFound, PermissionDenied
from breederhq.secret_tokens import new_secret_token, secret_token_hash
from breederhq.tenancy import require_tenant_id, system_read_context, tenant_context
from tenant_app.models import InvitationStatus, MembershipAuditLog, TenantInvitation, TenantMembership, User
from tenant_app.notifications import invitation_email
from tenant_app.services.common import DB
from tenant_app.services.memberships import MEMBERSHIP_MANAGERS, _check_role, _require_manager


def invitation_token_hash(token: str) -> str:
    """What is stored of an invitation token (breederhq.secret_tokens, the rule for every emailed token)."""
    return secret_token_hash(token)


def _invitation_audit(
    invitation: TenantInvitation,
    *,
    action: str,
    user: User | None,
    actor: User | None,
    old_role: str = "",
    new_role: str = "",
) -> None:
    MembershipAuditLog.objects.create(
        tenant_id=invitation.tenant_id,
        user=user,
        email=invitation.email,
        invitation=invitation,
        action=action,
        old_role=old_role,
        new_role=new_role,
        changed_by=actor,
    )


def _close_invitation(invitation: TenantInvitation, *, status: str, by: User | None) -> None:
    invitation.status = status
    invitation.responded_at = timezone.now()
    invitation.responded_by = by
    invitation.save(update_fields=["status", "responded_at", "responded_by"])


def invitation_create(*, email: str, role: str, actor: User) -> TenantInvitation:
    """Invite an email address to the current tenant with a role (owners and admins; only an owner
    invites an owner). An emailed, single-use token that expires after TENANT_INVITATION_TTL_DAYS.

    Privacy: this never looks at whether an account uses the address. The invitation, the email and
    the answer are the same either way; the address's owner decides, by accepting or declining while
    signed in. The one refusal that names the address is `already_a_member`, about a member of this
    very tenant, whom every member can already see in the member list. Inviting an address that has
    a pending invitation replaces it (the old link stops working).
    """
    _check_role(role)
    email = email.strip()
    token, token_hash = new_secret_token()
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        _require_manager(actor, tenant_id=tenant_id, touches_owner=role == TenantMembership.Role.OWNER)
        if TenantMembership.objects.filter(tenant_id=tenant_id, user__email__iexact=email).exists():
            raise Conflict(f"{email} is already a member of this tenant.", code="already_a_member")
        for previous in TenantInvitation.objects.select_for_update().filter(
            tenant_id=tenant_id, email__iexact=email, status=InvitationStatus.PENDING
        ):
            _close_invitation(previous, status=InvitationStatus.REVOKED, by=actor)
            _invitation_audit(
                previous,
                action=MembershipAuditLog.Action.INVITATION_REVOKED,
                user=None,
                actor=actor,
                old_role=previous.role,
            )
        try:
            with transaction.atomic(using=DB):
                invitation = TenantInvitation.objects.create(
                    tenant_id=tenant_id,
                    email=email,
                    role=role,
                    token_hash=token_hash,
                    invited_by=actor,
                    expires_at=timezone.now() + timedelta(days=settings.TENANT_INVITATION_TTL_DAYS),
                )
        except IntegrityError as exc:  # another invitation to the address committed meanwhile
            raise Conflict(
                f"An invitation to {email} was just sent by someone else; reload the list.", code="invitation_conflict"
            ) from exc
        _invitation_audit(invitation, action=MembershipAuditLog.Action.INVITED, user=None, actor=actor, new_role=role)
        invitation_email(invitation, token=token, actor=actor)
    return invitation


def invitation_revoke(*, invitation_id: int, actor: User) -> TenantInvitation:
    """Withdraw a pending invitation of the current tenant (owners and admins; an owner invitation by
    an owner). Its link stops working at once."""
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        invitation = TenantInvitation.objects.select_for_update().filter(tenant_id=tenant_id, pk=invitation_id).first()
        if invitation is None:
            raise NotFound(f"Invitation {invitation_id} not found.", code="invitation_not_found")
        _require_manager(actor, tenant_id=tenant_id, touches_owner=invitation.role == TenantMembership.Role.OWNER)
        if invitation.status != InvitationStatus.PENDING:
            raise Conflict(
                f"Invitation {invitation_id} is {invitation.status}: only a pending one can be revoked.",
                code="invitation_not_pending",
                extra={"invitation_status": invitation.status},
            )
        _close_invitation(invitation, status=InvitationStatus.REVOKED, by=actor)
        _invitation_audit(
            invitation,
            action=MembershipAuditLog.Action.INVITATION_REVOKED,
            user=None,
            actor=actor,
            old_role=invitation.role,
        )
    return invitation


def _invitation_for_token(token: str, *, user: User) -> tuple[int, int]:
    """(invitation id, tenant id) of the invitation a token names. The token is all there is (no tenant
    yet), so the lookup is an audited system read; the caller then works in that tenant's context."""
    with system_read_context(
        job="tenant_invitation:token", using=DB, user_id=user.pk, reason="an account presenting an invitation token"
    ):
        row = (
            TenantInvitation.objects.filter(token_hash=invitation_token_hash(token))
            .values_list("pk", "tenant_id")
            .first()
        )
    if row is None:
        raise NotFound("No invitation has this token: check the link in the email.", code="invitation_not_found")
    return row


def _lock_invitation_for_response(invitation_id: int, *, user: User) -> TenantInvitation:
    """Lock the invitation (in the tenant's context), then check it is addressed to `user` and open.
    Two responses to one invitation queue on the lock; the second sees the first's outcome."""
    invitation = TenantInvitation.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=invitation_id)
    if invitation.tenant.deleted_at is not None:  # the tenant is gone: so is its offer
        raise NotFound("No invitation has this token: check the link in the email.", code="invitation_not_found")
    if invitation.email.strip().lower() != (user.email or "").strip().lower():
        raise PermissionDenied(
            "This invitation was sent to another email address: sign in with that address to answer it.",
            code="invitation_email_mismatch",
        )
    refusals = {
        InvitationStatus.ACCEPTED: ("has been used already", "invitation_used"),
        InvitationStatus.DECLINED: ("was declined", "invitation_declined"),
        InvitationStatus.REVOKED: ("was withdrawn by the tenant", "invitation_revoked"),
    }
    if invitation.status in refusals:
        what, code = refusals[invitation.status]
        raise Conflict(f"This invitation {what}.", code=code, extra={"invitation_status": invitation.status})
    if invitation.is_expired():
        raise Gone("This invitation has expired: ask the tenant to invite you again.", code="invitation_expired")
    return invitation


def _inviter_lost_authority(invitation: TenantInvitation) -> Conflict | None:
    """An invitation is an offer made with its inviter's authority, checked again when it is answered:
    the inviter must still be an owner or admin of the tenant, and an owner to offer the owner role.
    A removed, demoted or departed inviter's pending offers are void (whatever removed them: the API,
    the back office, account deletion). Returns the refusal, or None."""
    role = (
        TenantMembership.objects.filter(tenant_id=invitation.tenant_id, user_id=invitation.invited_by_id)
        .values_list("role", flat=True)
        .first()
        if invitation.invited_by_id is not None
        else None
    )
    if role in MEMBERSHIP_MANAGERS and (
        invitation.role != TenantMembership.Role.OWNER or role == TenantMembership.Role.OWNER
    ):
        return None
    return Conflict(
        "Whoever sent this invitation may no longer grant this role in the tenant, so the "
        "invitation was withdrawn: ask the tenant to invite you again.",
        code="invitation_inviter_not_authorized",
        extra={"invitation_status": InvitationStatus.REVOKED},
    )


def invitation_accept(*, token: str, user: User) -> TenantMembership:
    """The signed-in invitee accepts: a membership with the invited role, once (the invitation row is
    locked, then marked accepted in the same transaction). Their other memberships are untouched, and
    a token issued before keeps acting in the tenant it named (breederhq.tenancy.activate_request_tenant).
    An inviter who has since lost the right to grant the role voids it (409
    `invitation_inviter_not_authorized`, the invitation is then revoked)."""
    invitation_id, tenant_id = _invitation_for_token(token, user=user)
    with tenant_context(tenant_id, using=DB):
        invitation = _lock_invitation_for_response(invitation_id, user=user)
        if TenantMembership.objects.filter(tenant_id=tenant_id, user=user).exists():
            raise Conflict("You are already a member of this tenant.", code="already_a_member")
        refusal = _inviter_lost_authority(invitation)
        if refusal is None:
            membership = TenantMembership.objects.create(tenant_id=tenant_id, user=user, role=invitation.role)
            _close_invitation(invitation, status=InvitationStatus.ACCEPTED, by=user)
            _invitation_audit(
                invitation,
                action=MembershipAuditLog.Action.INVITATION_ACCEPTED,
                user=user,
                actor=user,
                new_role=invitation.role,
            )
        else:  # the offer dies with the inviter's authority: revoked (committed), then refused
            _close_invitation(invitation, status=InvitationStatus.REVOKED, by=None)
            _invitation_audit(
                invitation,
                action=MembershipAuditLog.Action.INVITATION_REVOKED,
                user=None,
                actor=None,
                old_role=invitation.role,
            )
    if refusal is not None:
        raise refusal
    membership.tenant = invitation.tenant
    return membership


def invitation_decline(*, token: str, user: User) -> TenantInvitation:
    """The signed-in invitee declines: the invitation is closed and its link stops working."""
    invitation_id, tenant_id = _invitation_for_token(token, user=user)
    with tenant_context(tenant_id, using=DB):
        invitation = _lock_invitation_for_response(invitation_id, user=user)
        _close_invitation(invitation, status=InvitationStatus.DECLINED, by=user)
        _invitation_audit(
            invitation,
            action=MembershipAuditLog.Action.INVITATION_DECLINED,
            user=user,
            actor=user,
            old_role=invitation.role,
        )
    return invitation
