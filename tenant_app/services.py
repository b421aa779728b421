"""Writes on the tenant side. Keyword-only functions, one `atomic(using="default")` each.

None of them takes a tenant: they act in the tenant of the current context (the request's
membership, the task's tenant_context), and row-level security confines every row they touch to it.
State changes lock the invoice row, re-check, act, bump `version` and write `invoice_audit_log` in the
same transaction; an illegal transition raises IllegalTransition (409), a stale version
VersionConflict (409).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from breederhq.errors import Conflict, Gone, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from breederhq.files import files_removed_on_failure
from breederhq.currencies import CURRENCIES, check_stripe_charge
from breederhq.currencies import currency as currency_facts
from breederhq.money import check_amount, check_lines
from breederhq.invoicing import lifecycle
from breederhq.invoicing.status import PAYABLE, REFUNDABLE, SETTLED, ConfirmationEvent
from breederhq.secret_tokens import new_secret_token, secret_token_hash
from tenant_app.invoicing import TENANT_INVOICES as KIND
from tenant_app.notifications import invitation_email
from breederhq.tenancy import require_tenant_id, system_read_context, tenant_context
from tenant_app.models import (
    INVOICE_TRANSITIONS,
    Contact,
    CreditNote,
    Invoice,
    InvoiceLineItem,
    InvitationStatus,
    InvoiceStatus,
    MembershipAuditLog,
    Payment,
    PaymentMode,
    Tenant,
    TenantInvitation,
    TenantMembership,
    TenantProfileAuditLog,
    User,
)

DB = "default"
#: A buyer's unconfirmed claim of payment falls back to `sent` after this long.
PENDING_CONFIRMATION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class LineInput:
    description: str
    unit_price_cents: int
    quantity: int = 1


# --- Tenants, memberships ---------------------------------------------------------------------------


#: What an owner edits on the tenant's profile (payment mode has its own path).
TENANT_PROFILE_FIELDS = ("name", "contact_email", "phone", "address_line1", "address_line2", "city", "region",
                         "postal_code", "country", "default_currency", "invoice_number_prefix")


def _check_tenant_profile(fields: dict) -> None:
    errors = {}
    if "name" in fields and not str(fields["name"]).strip():
        errors["name"] = ["A name is required."]
    if "default_currency" in fields and fields["default_currency"] not in CURRENCIES:
        currency_facts(fields["default_currency"], field="default_currency")  # 400 unsupported_currency
    if "invoice_number_prefix" in fields and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_/-]{0,11}",
                                                              str(fields["invoice_number_prefix"])):
        errors["invoice_number_prefix"] = ["1 to 12 letters, digits, '-', '_' or '/', starting with a letter or digit."]
    if "country" in fields and not re.fullmatch(r"([A-Z]{2})?", str(fields["country"])):
        errors["country"] = ["Two capital letters (ISO 3166-1 alpha-2), or empty."]
    unknown = sorted(set(fields) - set(TENANT_PROFILE_FIELDS))
    errors.update({name: ["not editable"] for name in unknown})
    if errors:
        raise ValidationFailed("Invalid tenant profile.", field_errors=errors)


def _tenant_audit(tenant: Tenant, *, action: str, changes: dict, actor: User | None) -> None:
    with tenant_context(tenant.pk, using=DB):
        TenantProfileAuditLog.objects.create(tenant=tenant, action=action, changes=changes, version=tenant.version,
                                             changed_by=actor)


def tenant_create(*, name: str, slug: str, owner: User, payment_mode: str = PaymentMode.MANUAL,
                  **profile) -> Tenant:
    """A tenant, its owner's membership and the first row of its profile audit, in one transaction.
    `profile`: any of TENANT_PROFILE_FIELDS but name."""
    if payment_mode not in PaymentMode.values:
        raise ValidationFailed("Unknown payment mode.", field_errors={"payment_mode": [f"not one of {PaymentMode.values}"]})
    _check_tenant_profile({"name": name, **profile})
    with transaction.atomic(using=DB):
        try:
            with transaction.atomic(using=DB):
                tenant = Tenant.objects.create(name=name, slug=slug, marketplace_payment_mode=payment_mode, **profile)
        except IntegrityError as exc:
            raise ValidationFailed("Slug taken.", field_errors={"slug": ["already in use"]}) from exc
        with tenant_context(tenant.pk, using=DB):
            TenantMembership.objects.create(tenant=tenant, user=owner, role=TenantMembership.Role.OWNER)
        _tenant_audit(tenant, action=TenantProfileAuditLog.Action.CREATED, actor=owner, changes={
            field: [None, getattr(tenant, field)] for field in ("slug", *TENANT_PROFILE_FIELDS)})
    return tenant


def tenant_update_profile(*, actor: User, expected_version: int, **changes) -> Tenant:
    """The current tenant's owner edits its profile at the version they read: the tenant row is locked,
    the version compared (409 `version_conflict`), the fields written, the version bumped and the change
    audited (old and new values), all in one transaction. Only owners (403 `role_forbidden`)."""
    _check_tenant_profile(changes)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        role = TenantMembership.objects.filter(tenant_id=tenant_id, user=actor).values_list("role", flat=True).first()
        if role != TenantMembership.Role.OWNER:
            raise PermissionDenied("Only an owner may edit the tenant's profile.", code="role_forbidden")
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if expected_version != tenant.version:
            raise VersionConflict(entity=f"Tenant #{tenant_id}", expected=expected_version, current=tenant.version)
        diff = {field: [getattr(tenant, field), value] for field, value in changes.items()
                if getattr(tenant, field) != value}
        if diff:
            for field, (_, value) in diff.items():
                setattr(tenant, field, value)
            tenant.version += 1
            tenant.save(update_fields=[*diff, "version", "updated_at"])
            _tenant_audit(tenant, action=TenantProfileAuditLog.Action.UPDATED, changes=diff, actor=actor)
    return tenant


def tenant_set_payment_mode(*, mode: str, actor: User | None = None) -> Tenant:
    """Switch the current tenant's marketplace payment mode. Locks the tenant row, so it waits for
    any invoice creation in progress (which holds the same lock) and vice versa."""
    if mode not in PaymentMode.values:
        raise ValidationFailed("Unknown payment mode.", field_errors={"mode": [f"not one of {PaymentMode.values}"]})
    with transaction.atomic(using=DB):
        tenant = Tenant.objects.select_for_update().get(pk=require_tenant_id(using=DB))
        tenant.marketplace_payment_mode = mode
        tenant.save(update_fields=["marketplace_payment_mode", "updated_at"])
    return tenant


#: Roles that may manage memberships; only an owner may grant, change or remove the owner role.
MEMBERSHIP_MANAGERS = (TenantMembership.Role.OWNER, TenantMembership.Role.ADMIN)


def _membership_audit(membership: TenantMembership, *, action: str, old_role: str, new_role: str,
                      actor: User | None) -> None:
    MembershipAuditLog.objects.create(tenant_id=membership.tenant_id, user_id=membership.user_id, action=action,
                                      old_role=old_role, new_role=new_role, changed_by=actor)


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
    list(TenantMembership.objects.select_for_update().filter(tenant_id=tenant_id, role=TenantMembership.Role.OWNER)
         .order_by("id").values_list("id", flat=True))
    membership = (TenantMembership.objects.select_for_update().select_related("user")
                  .filter(tenant_id=tenant_id, pk=membership_id).first())
    if membership is None:
        raise NotFound(f"Membership {membership_id} not found.")
    return membership


def _refuse_losing_the_last_owner(membership: TenantMembership, *, what: str, detail: str | None = None) -> None:
    """The one rule: a tenant always keeps an owner (409 `last_owner`). Call it with the owner
    memberships locked (_lock_membership_for_change)."""
    if membership.role != TenantMembership.Role.OWNER:
        return
    others = (TenantMembership.objects.filter(tenant_id=membership.tenant_id, role=TenantMembership.Role.OWNER)
              .exclude(pk=membership.pk).exists())
    if not others:
        raise Conflict(detail or f"{membership.user.email} is the tenant's last owner and cannot be {what}: "
                       f"make another member owner first.", code="last_owner")


# --- Invitations: membership only by the invitee's consent -------------------------------------------


def invitation_token_hash(token: str) -> str:
    """What is stored of an invitation token (breederhq.secret_tokens, the rule for every emailed token)."""
    return secret_token_hash(token)


def _invitation_audit(invitation: TenantInvitation, *, action: str, user: User | None, actor: User | None,
                      old_role: str = "", new_role: str = "") -> None:
    MembershipAuditLog.objects.create(tenant_id=invitation.tenant_id, user=user, email=invitation.email,
                                      invitation=invitation, action=action, old_role=old_role, new_role=new_role,
                                      changed_by=actor)


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
        for previous in (TenantInvitation.objects.select_for_update()
                         .filter(tenant_id=tenant_id, email__iexact=email, status=InvitationStatus.PENDING)):
            _close_invitation(previous, status=InvitationStatus.REVOKED, by=actor)
            _invitation_audit(previous, action=MembershipAuditLog.Action.INVITATION_REVOKED, user=None, actor=actor,
                              old_role=previous.role)
        try:
            with transaction.atomic(using=DB):
                invitation = TenantInvitation.objects.create(
                    tenant_id=tenant_id, email=email, role=role, token_hash=token_hash,
                    invited_by=actor, expires_at=timezone.now() + timedelta(days=settings.TENANT_INVITATION_TTL_DAYS),
                )
        except IntegrityError as exc:  # another invitation to the address committed meanwhile
            raise Conflict(f"An invitation to {email} was just sent by someone else; reload the list.",
                           code="invitation_conflict") from exc
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
            raise Conflict(f"Invitation {invitation_id} is {invitation.status}: only a pending one can be revoked.",
                           code="invitation_not_pending", extra={"invitation_status": invitation.status})
        _close_invitation(invitation, status=InvitationStatus.REVOKED, by=actor)
        _invitation_audit(invitation, action=MembershipAuditLog.Action.INVITATION_REVOKED, user=None, actor=actor,
                          old_role=invitation.role)
    return invitation


def _invitation_for_token(token: str, *, user: User) -> tuple[int, int]:
    """(invitation id, tenant id) of the invitation a token names. The token is all there is (no tenant
    yet), so the lookup is an audited system read; the caller then works in that tenant's context."""
    with system_read_context(job="tenant_invitation:token", using=DB, user_id=user.pk,
                             reason="an account presenting an invitation token"):
        row = (TenantInvitation.objects.filter(token_hash=invitation_token_hash(token))
               .values_list("pk", "tenant_id").first())
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
        raise PermissionDenied("This invitation was sent to another email address: sign in with that address to "
                               "answer it.", code="invitation_email_mismatch")
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
    role = (TenantMembership.objects.filter(tenant_id=invitation.tenant_id, user_id=invitation.invited_by_id)
            .values_list("role", flat=True).first() if invitation.invited_by_id is not None else None)
    if role in MEMBERSHIP_MANAGERS and (invitation.role != TenantMembership.Role.OWNER
                                        or role == TenantMembership.Role.OWNER):
        return None
    return Conflict("Whoever sent this invitation may no longer grant this role in the tenant, so the "
                    "invitation was withdrawn: ask the tenant to invite you again.",
                    code="invitation_inviter_not_authorized", extra={"invitation_status": InvitationStatus.REVOKED})


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
            _invitation_audit(invitation, action=MembershipAuditLog.Action.INVITATION_ACCEPTED, user=user,
                              actor=user, new_role=invitation.role)
        else:  # the offer dies with the inviter's authority: revoked (committed), then refused
            _close_invitation(invitation, status=InvitationStatus.REVOKED, by=None)
            _invitation_audit(invitation, action=MembershipAuditLog.Action.INVITATION_REVOKED, user=None, actor=None,
                              old_role=invitation.role)
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
        _invitation_audit(invitation, action=MembershipAuditLog.Action.INVITATION_DECLINED, user=user, actor=user,
                          old_role=invitation.role)
    return invitation


def membership_leave(*, actor: User) -> None:
    """The signed-in member leaves the current tenant. The last owner may not (409 `last_owner`):
    someone must be able to manage the tenant; make another member owner first."""
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        own_id = (TenantMembership.objects.filter(tenant_id=tenant_id, user=actor)
                  .values_list("pk", flat=True).first())
        if own_id is None:
            raise NotFound("You are not a member of this tenant.", code="not_a_member")
        membership = _lock_membership_for_change(own_id, tenant_id=tenant_id)
        _refuse_losing_the_last_owner(membership, what="leave", detail="You are this tenant's last owner: make "
                                      "another member owner before leaving.")
        _membership_audit(membership, action=MembershipAuditLog.Action.LEFT, old_role=membership.role, new_role="",
                          actor=actor)
        membership.delete()


def membership_change_role(*, membership_id: int, role: str, actor: User,
                           expected_version: int | None = None) -> TenantMembership:
    _check_role(role)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        membership = _lock_membership_for_change(membership_id, tenant_id=tenant_id)
        if expected_version is not None and expected_version != membership.version:
            raise VersionConflict(entity=f"Membership {membership_id}", expected=expected_version,
                                  current=membership.version)
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
        _membership_audit(membership, action=MembershipAuditLog.Action.ROLE_CHANGED, old_role=old_role,
                          new_role=role, actor=actor)
    return membership


def membership_delete(*, membership_id: int, actor: User, expected_version: int | None = None) -> None:
    """Remove a member (the row is deleted; the audit trail keeps who and when). Their next request
    to this tenant is refused: every request re-reads the live memberships."""
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        membership = _lock_membership_for_change(membership_id, tenant_id=tenant_id)
        if expected_version is not None and expected_version != membership.version:
            raise VersionConflict(entity=f"Membership {membership_id}", expected=expected_version,
                                  current=membership.version)
        _require_manager(actor, tenant_id=tenant_id, touches_owner=membership.role == TenantMembership.Role.OWNER)
        _refuse_losing_the_last_owner(membership, what="removed")
        _membership_audit(membership, action=MembershipAuditLog.Action.REMOVED, old_role=membership.role,
                          new_role="", actor=actor)
        membership.delete()


# --- Contacts ---------------------------------------------------------------------------------------

CONTACT_FIELDS = {
    "kind", "first_name", "last_name", "organization_name", "email", "phone", "address_line1",
    "address_line2", "city", "region", "postal_code", "country", "notes", "marketplace_user_id",
}


def _validate_contact(contact: Contact) -> None:
    errors = {}
    if contact.kind not in Contact.Kind.values:
        errors["kind"] = [f"not one of {Contact.Kind.values}"]
    elif contact.kind == Contact.Kind.PERSON and not (contact.first_name or contact.last_name):
        errors["last_name"] = ["a person needs a first or last name"]
    elif contact.kind == Contact.Kind.ORGANIZATION and not contact.organization_name:
        errors["organization_name"] = ["an organisation needs a name"]
    if errors:
        raise ValidationFailed("Invalid contact.", field_errors=errors)


def _save_contact(contact: Contact) -> Contact:
    try:
        with transaction.atomic(using=DB):
            contact.save()
    except IntegrityError as exc:
        if "contacts_marketplace_user_tenant_unique" in str(exc):
            raise ValidationFailed(
                "That marketplace user is already linked to another contact.",
                field_errors={"marketplace_user_id": ["already linked to a contact of this tenant"]},
            ) from exc
        raise
    return contact


def contact_create(*, kind: str = Contact.Kind.PERSON, **fields) -> Contact:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic(using=DB):
        contact = Contact(tenant_id=require_tenant_id(using=DB), kind=kind, **fields)
        _validate_contact(contact)
        return _save_contact(contact)


def contact_update(*, contact_id: int, **fields) -> Contact:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        contact = Contact.objects.select_for_update().filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        for name, value in fields.items():
            setattr(contact, name, value)
        _validate_contact(contact)
        return _save_contact(contact)


def contact_delete(*, contact_id: int) -> None:
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        contact = Contact.objects.filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        contact.delete()


# --- Invoice helpers --------------------------------------------------------------------------------


def _next_number(*, tenant_id: int, kind: str) -> int:
    """The next number in the tenant's sequence for `kind`; rolls back with the transaction."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenant_document_sequences (tenant_id, kind, last_value) VALUES (%s, %s, 1) "
            "ON CONFLICT (tenant_id, kind) DO UPDATE "
            "SET last_value = tenant_document_sequences.last_value + 1 RETURNING last_value",
            [tenant_id, kind],
        )
        return cursor.fetchone()[0]


# The lifecycle steps are the invoice core's (breederhq/invoicing/lifecycle.py), bound to this kind.


def _lock_invoice(invoice_id: int) -> Invoice:
    return lifecycle.lock(KIND, invoice_id)


def _check_version(invoice: Invoice, expected_version: int | None) -> None:
    lifecycle.check_version(KIND, invoice, expected_version)


def _change(invoice: Invoice, *, action: str, fields: dict, new_status: str | None = None,
            actor: User | None, actor_label: str = "", metadata: dict | None = None) -> Invoice:
    """Apply one change to a locked invoice: transition check, version bump, save, audit row, emails,
    effects (breederhq/invoicing/lifecycle.py `change`)."""
    return lifecycle.change(KIND, invoice, action=action, fields=fields, new_status=new_status, actor=actor,
                            actor_label=actor_label, metadata=metadata)


def _confirmation(invoice: Invoice, *, event: str, confirmed_by: User | None = None, **columns) -> None:
    lifecycle.confirmation(KIND, invoice, event=event, confirmed_by=confirmed_by, **columns)


def _validate_lines(lines: list[LineInput]) -> None:
    if not lines:
        raise ValidationFailed("An invoice needs at least one line.", field_errors={"lines": ["empty"]})
    errors = []
    for index, line in enumerate(lines):
        if not isinstance(line.unit_price_cents, int) or isinstance(line.unit_price_cents, bool) or line.unit_price_cents < 0:
            errors.append(f"line {index}: unit_price_cents must be a non-negative integer")
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity < 1:
            errors.append(f"line {index}: quantity must be a positive integer")
        if not line.description.strip():
            errors.append(f"line {index}: description is required")
    if errors:
        raise ValidationFailed("Invalid invoice lines.", field_errors={"lines": errors})
    check_lines(lines)  # the money bounds: no line, subtotal or total can pass BIGINT


def _write_lines(invoice: Invoice, lines: list[LineInput]) -> int:
    InvoiceLineItem.objects.bulk_create([
        InvoiceLineItem(
            tenant_id=invoice.tenant_id, invoice=invoice, description=line.description, quantity=line.quantity,
            unit_price_cents=line.unit_price_cents, total_cents=line.quantity * line.unit_price_cents,
            sort_order=index,
        )
        for index, line in enumerate(lines)
    ])
    return sum(line.quantity * line.unit_price_cents for line in lines)


# --- Invoices ---------------------------------------------------------------------------------------


def invoice_create(*, contact_id: int, lines: list[LineInput], currency: str | None = None, tax_cents: int = 0,
                   notes: str = "", due_date: date | None = None, is_marketplace_invoice: bool = False,
                   actor: User | None = None, replaces: Invoice | None = None) -> Invoice:
    """A draft invoice. The tenant row is locked FOR UPDATE while its payment mode is copied into
    `payment_mode_snapshot`, so a concurrent mode switch either happens before (and is what the
    invoice gets) or waits until this invoice exists. Everything later reads the snapshot."""
    _validate_lines(lines)
    if currency is not None:
        currency_facts(currency)  # 400 unsupported_currency
    check_amount("tax_cents", tax_cents)
    check_lines(lines, tax_cents=tax_cents, currency=currency)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if currency is None:  # none named: the tenant's own, whose step the amounts must keep
            currency = tenant.default_currency
            check_lines(lines, tax_cents=tax_cents, currency=currency)
        mode = tenant.marketplace_payment_mode
        fallback = None
        if mode == PaymentMode.STRIPE:
            from breederhq.invoicing.payments import stripe_mode_fallback

            fallback = stripe_mode_fallback(tenant_id=tenant_id)
            if fallback is not None and not fallback.allowed:
                raise ValidationFailed(f"Stripe cannot take this payment now ({fallback.reason}).",
                                       code="stripe_unavailable")
            if fallback is not None:
                mode = PaymentMode.MANUAL
        if is_marketplace_invoice and mode == PaymentMode.DISABLED:
            raise ValidationFailed(
                "Marketplace payments are disabled for this tenant.",
                field_errors={"is_marketplace_invoice": ["payment mode is 'disabled'"]},
            )
        contact = Contact.objects.filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        number = _next_number(tenant_id=tenant_id, kind="invoice")
        invoice = Invoice.objects.create(
            tenant_id=tenant_id, contact=contact, invoice_number=f"{tenant.invoice_number_prefix}{number:06d}",
            currency=currency,
            payment_mode_snapshot=mode, payment_mode_locked_at=timezone.now(), notes=notes, due_date=due_date,
            is_marketplace_invoice=is_marketplace_invoice, created_by=actor, replaces=replaces,
        )
        subtotal = _write_lines(invoice, lines)
        invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents = subtotal, tax_cents, subtotal + tax_cents
        invoice.save(update_fields=["subtotal_cents", "tax_cents", "total_cents"])
        metadata = {"replaces": replaces.invoice_number} if replaces else {}
        if fallback is not None:
            metadata["payment_mode_fallback"] = fallback.reason
        lifecycle.audit(KIND, invoice, action="created", old_status="", actor=actor, metadata=metadata)
        if fallback is not None:
            from breederhq.invoicing.payments import invoice_payment_record_fallback

            invoice_payment_record_fallback(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=tenant_id,
                                            reason=fallback.reason, amount_cents=invoice.total_cents,
                                            currency=invoice.currency, connect_account_id=fallback.account_id)
    return invoice


def invoice_update_draft(*, invoice_id: int, expected_version: int, actor: User | None = None,
                         lines: list[LineInput] | None = None, tax_cents: int | None = None,
                         notes: str | None = None, due_date: date | None = None) -> Invoice:
    """Edit a draft. A sent invoice is a ledger document: never edited (void and reissue it)."""
    if lines is not None:
        _validate_lines(lines)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status != InvoiceStatus.DRAFT:
            raise Conflict(
                f"Invoice {invoice.invoice_number} is {invoice.status}: only drafts are edited; void and reissue it.",
                code="invoice_issued",
            )
        fields: dict = {}
        if tax_cents is not None:
            check_amount("tax_cents", tax_cents)
        check_lines(lines if lines is not None else list(invoice.line_items.all()),
                    tax_cents=invoice.tax_cents if tax_cents is None else tax_cents, currency=invoice.currency)
        if lines is not None:
            invoice.line_items.all().delete()
            fields["subtotal_cents"] = _write_lines(invoice, lines)
        if tax_cents is not None:
            fields["tax_cents"] = tax_cents
        if lines is not None or tax_cents is not None:
            fields["total_cents"] = fields.get("subtotal_cents", invoice.subtotal_cents) + fields.get("tax_cents", invoice.tax_cents)
        if notes is not None:
            fields["notes"] = notes
        if due_date is not None:
            fields["due_date"] = due_date
        return _change(invoice, action="draft_updated", fields=fields, actor=actor)


def invoice_send(*, invoice_id: int, expected_version: int | None = None, actor: User | None = None) -> Invoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.check_send(KIND, invoice)
        if invoice.total_cents <= 0:
            raise ValidationFailed("An invoice with a zero total is not sent.", field_errors={"total_cents": ["zero"]})
        if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
            check_stripe_charge(invoice.currency, invoice.total_cents)  # Stripe's minimum and maximum
        invoice = _change(invoice, action="sent", new_status=InvoiceStatus.SENT, fields={"sent_at": timezone.now()},
                          actor=actor)
        if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_open_on_commit

            invoice_payment_open_on_commit(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=invoice.tenant_id,
                                           using=DB)
        return invoice


def invoice_buyer_mark_paid(*, invoice_id: int, receipt: File | None, reference: str = "",
                            marketplace_user_id: int | None = None,
                            expected_version: int | None = None) -> Invoice:
    """The buyer says they paid manually: needs a receipt; the provider then
    confirms or rejects, or it falls back to `sent` after 7 days. A failed write leaves no file."""
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.payment_mode_snapshot != PaymentMode.MANUAL:
            raise ValidationFailed(
                f"Invoice {invoice.invoice_number} is paid through {invoice.payment_mode_snapshot}, not manually.",
                code="payment_mode_mismatch",
            )
        if receipt is None:
            raise ValidationFailed("A manual payment needs a receipt.", field_errors={"receipt": ["required"]})
        linked = invoice.contact.marketplace_user_id
        if marketplace_user_id is not None and linked is not None and linked != marketplace_user_id:
            raise PermissionDenied("Only the invoice's buyer may mark it paid.")
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PENDING_CONFIRMATION)
        now = timezone.now()
        stored.save(invoice.buyer_payment_receipt, getattr(receipt, "name", None) or "receipt", receipt)
        label = f"marketplace_user:{marketplace_user_id}" if marketplace_user_id else "buyer"
        _change(invoice, action="buyer_marked_paid", new_status=InvoiceStatus.PENDING_CONFIRMATION,
                fields={"buyer_marked_paid_at": now, "buyer_payment_receipt": invoice.buyer_payment_receipt.name},
                actor=None, actor_label=label, metadata={"reference": reference})
        _confirmation(
            invoice, event=ConfirmationEvent.BUYER_MARKED_PAID,
            marked_paid_by_marketplace_user_id=marketplace_user_id, marked_paid_at=now,
            payment_method=PaymentMode.MANUAL, payment_reference=reference,
        )
    return invoice


def _settle(invoice: Invoice, *, method: str, idempotency_key: str, external_reference: str,
            actor: User | None, actor_label: str, action: str) -> Payment:
    payment = Payment.objects.create(
        tenant_id=invoice.tenant_id, invoice=invoice, kind=Payment.Kind.PAYMENT, method=method,
        amount_cents=invoice.balance_cents, currency=invoice.currency, external_reference=external_reference,
        idempotency_key=idempotency_key, recorded_by=actor,
    )
    _change(invoice, action=action, new_status=InvoiceStatus.PAID,
            fields={"paid_cents": invoice.total_cents, "paid_at": timezone.now()},
            actor=actor, actor_label=actor_label,
            metadata={"payment_id": payment.pk, "method": method, "amount_cents": payment.amount_cents})
    return payment


def _check_method(invoice: Invoice, method: str) -> None:
    if method not in Payment.Method.values:
        raise ValidationFailed("Unknown payment method.", field_errors={"method": [f"not one of {Payment.Method.values}"]})
    # A Stripe payment is only accepted on an invoice created in Stripe mode.
    # Money handed over in person (manual, other) is accepted whatever the mode.
    if method == Payment.Method.STRIPE and invoice.payment_mode_snapshot != PaymentMode.STRIPE:
        raise ValidationFailed(
            f"Invoice {invoice.invoice_number} was created in {invoice.payment_mode_snapshot} mode; "
            f"a Stripe payment does not match it.",
            code="payment_mode_mismatch",
        )


def _close_card_channel(invoice_id: int, method: str) -> None:
    """Money by hand on a Stripe-mode invoice: its open payment intent is cancelled first (no lock
    held here), so the buyer cannot pay it twice (payments_app.intent_cancel.invoice_payment_close_for_manual)."""
    if method == Payment.Method.STRIPE:
        return
    invoice = Invoice.objects.filter(pk=invoice_id).only("payment_mode_snapshot", "status", "tenant_id").first()
    if invoice is None or invoice.payment_mode_snapshot != PaymentMode.STRIPE or invoice.status not in PAYABLE:
        return
    from breederhq.invoicing.payments import invoice_payment_close_for_manual

    invoice_payment_close_for_manual(invoice_kind="tenant", invoice_id=invoice_id, tenant_id=invoice.tenant_id)


def _existing_payment(idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def invoice_mark_paid(*, invoice_id: int, method: str, idempotency_key: str, external_reference: str = "",
                      actor: User | None = None, actor_label: str = "",
                      expected_version: int | None = None) -> Invoice:
    """The processor (Stripe webhook) or the provider confirms the invoice is paid in full.

    Locks the invoice row; if it is already paid (a webhook racing a manual confirmation), this is a
    no-op: one payment, one audit row, whichever path came first. `expected_version` is for people
    acting through the API (compared under the lock, before anything else); webhooks pass none.
    """
    _close_card_channel(invoice_id, method)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        existing = _existing_payment(idempotency_key)
        if existing is not None and existing.invoice_id != invoice.pk:
            raise Conflict("This idempotency key was used for a payment on another invoice.",
                           code="idempotency_key_reused")
        if existing is not None or invoice.status in SETTLED:
            return invoice
        _check_method(invoice, method)
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PAID)
        _settle(invoice, method=method, idempotency_key=idempotency_key, external_reference=external_reference,
                actor=actor, actor_label=actor_label, action="marked_paid")
        _confirmation(
            invoice, event=ConfirmationEvent.CONFIRMED,
            marked_paid_at=invoice.buyer_marked_paid_at, confirmed_by=actor, confirmed_by_actor=actor_label,
            confirmed_at=invoice.paid_at, payment_method=method, payment_reference=external_reference,
        )
    return invoice


def invoice_confirm_payment(*, invoice_id: int, actor: User, reference: str = "",
                            expected_version: int | None = None) -> Invoice:
    """The provider confirms the buyer's manual payment claim. Idempotent once paid."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status in SETTLED:
            return invoice
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.PAID, what="confirm")
        _settle(invoice, method=Payment.Method.MANUAL, idempotency_key=f"confirm:{invoice.pk}",
                external_reference=reference, actor=actor, actor_label="", action="payment_confirmed")
        _confirmation(
            invoice, event=ConfirmationEvent.CONFIRMED,
            marked_paid_at=invoice.buyer_marked_paid_at, confirmed_by=actor, confirmed_at=invoice.paid_at,
            payment_method=Payment.Method.MANUAL, payment_reference=reference,
        )
    return invoice


def invoice_reject_payment(*, invoice_id: int, actor: User, reason: str,
                           expected_version: int | None = None) -> Invoice:
    """The provider did not receive the money the buyer claims: back to `sent`."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="reject")
        marked_at = invoice.buyer_marked_paid_at
        _change(invoice, action="payment_rejected", new_status=InvoiceStatus.SENT,
                fields={"buyer_marked_paid_at": None}, actor=actor, metadata={"reason": reason})
        _confirmation(
            invoice, event=ConfirmationEvent.REJECTED,
            marked_paid_at=marked_at, confirmed_by=actor, confirmed_at=timezone.now(),
            payment_method=PaymentMode.MANUAL, metadata={"reason": reason},
        )
    return invoice


def invoice_record_payment(*, invoice_id: int, amount_cents: int, method: str, idempotency_key: str,
                           external_reference: str = "", actor: User | None = None) -> Payment:
    """Record money received (possibly part of the balance). Idempotent by key: the same key returns
    the first payment. The invoice's balance is recalculated in the same transaction and reaching
    the total makes it `paid`."""
    check_amount("amount_cents", amount_cents, allow_zero=False)
    if not idempotency_key:
        raise ValidationFailed("An idempotency key is required.", field_errors={"idempotency_key": ["required"]})
    if _existing_payment(idempotency_key) is None:
        _close_card_channel(invoice_id, method)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        existing = _existing_payment(idempotency_key)
        if existing is not None:
            if (existing.invoice_id, existing.amount_cents, existing.method, existing.kind) != (
                    invoice.pk, amount_cents, method, Payment.Kind.PAYMENT):
                raise Conflict("This idempotency key was used for a different payment.", code="idempotency_key_reused")
            return existing
        _check_method(invoice, method)
        if invoice.status not in PAYABLE:
            INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PAID)
        check_amount("amount_cents", amount_cents, currency=invoice.currency)
        if amount_cents > invoice.balance_cents:
            raise ValidationFailed(
                f"{amount_cents} exceeds the balance of {invoice.balance_cents}.",
                field_errors={"amount_cents": [f"at most {invoice.balance_cents}"]},
            )
        payment = Payment.objects.create(
            tenant_id=invoice.tenant_id, invoice=invoice, kind=Payment.Kind.PAYMENT, method=method,
            amount_cents=amount_cents, currency=invoice.currency, external_reference=external_reference,
            idempotency_key=idempotency_key, recorded_by=actor,
        )
        paid = Payment.objects.filter(invoice=invoice, kind=Payment.Kind.PAYMENT).values_list("amount_cents", flat=True)
        paid_cents = sum(paid)
        fields = {"paid_cents": paid_cents}
        new_status = None
        if paid_cents == invoice.total_cents:
            new_status, fields["paid_at"] = InvoiceStatus.PAID, timezone.now()
        _change(invoice, action="payment_recorded", new_status=new_status, fields=fields, actor=actor,
                metadata={"payment_id": payment.pk, "method": method, "amount_cents": amount_cents})
    return payment


def _refundable_cents(invoice: Invoice, amount_cents: int) -> int:
    if invoice.status not in REFUNDABLE:
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.REFUNDED)
    refundable = invoice.paid_cents - invoice.refunded_cents
    if amount_cents > refundable:
        raise Conflict(f"{amount_cents} exceeds the refundable {refundable} of invoice {invoice.invoice_number}.",
                       code="refund_exceeds_refundable", extra={"refundable_cents": refundable})
    return refundable


def _replayed_refund(invoice: Invoice, *, idempotency_key: str, amount_cents: int) -> CreditNote | None:
    existing = _existing_payment(idempotency_key)
    if existing is None:
        return None
    if (existing.invoice_id, existing.amount_cents, existing.kind) != (invoice.pk, amount_cents, Payment.Kind.REFUND):
        raise Conflict("This idempotency key was used for a different payment.", code="idempotency_key_reused")
    return existing.credit_note


def invoice_refund(*, invoice_id: int, amount_cents: int, reason: str, idempotency_key: str,
                   actor: User | None = None, method: str | None = None, external_reference: str = "",
                   expected_version: int | None = None, through_provider: bool = False,
                   refunded_total_cents: int | None = None) -> CreditNote | None:
    """Give money back: issues a credit note (own number) and a refund row; partial or full.

    The same `idempotency_key` returns the first credit note. `expected_version` (people acting through
    the API) is compared under the invoice's row lock. More than what was paid and not yet refunded is
    a 409 `refund_exceeds_refundable`.

    `through_provider` (a person asks for the refund): the money goes back through the channel that
    took it, keyed by `idempotency_key` (the client's), via `payments_app.refunds`, which records it
    here afterwards. Without it (the Stripe webhook, or the refund path recording what Stripe
    accepted) the refund already happened and is only recorded here; `refunded_total_cents` (the
    processor's cumulative total, Stripe's `amount_refunded`) then makes it record only what the
    ledger lacks, computed under the lock, so a refund recorded meanwhile is never counted twice;
    None when nothing is missing.
    """
    check_amount("amount_cents", amount_cents, allow_zero=False)
    if not idempotency_key:
        raise ValidationFailed("An idempotency key is required.", field_errors={"idempotency_key": ["required"]})
    if through_provider:
        # A person asks: the money goes back through the channel that took it, keyed by their key
        # (payments_app/refunds.py), and is recorded here once it has.
        from breederhq.invoicing.payments import invoice_refund_through_channel

        return invoice_refund_through_channel(
            invoice_kind="tenant", invoice_id=invoice_id, tenant_id=require_tenant_id(using=DB),
            amount_cents=amount_cents, key=idempotency_key, reason=reason, expected_version=expected_version,
            actor=actor).record
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if refunded_total_cents is not None:
            amount_cents = refunded_total_cents - invoice.refunded_cents
            if amount_cents <= 0:
                return None
        replayed = _replayed_refund(invoice, idempotency_key=idempotency_key, amount_cents=amount_cents)
        if replayed is not None:
            return replayed
        _refundable_cents(invoice, amount_cents)
        if method is None:
            method = Payment.Method.STRIPE if invoice.payment_mode_snapshot == PaymentMode.STRIPE else Payment.Method.MANUAL
        number = _next_number(tenant_id=invoice.tenant_id, kind="credit_note")
        credit_note = CreditNote.objects.create(
            tenant_id=invoice.tenant_id, invoice=invoice, credit_note_number=f"CN-{number:06d}",
            currency=invoice.currency, amount_cents=amount_cents, reason=reason, created_by=actor,
        )
        Payment.objects.create(
            tenant_id=invoice.tenant_id, invoice=invoice, kind=Payment.Kind.REFUND, method=method,
            amount_cents=amount_cents, currency=invoice.currency, external_reference=external_reference,
            idempotency_key=idempotency_key, credit_note=credit_note, recorded_by=actor,
        )
        refunded = invoice.refunded_cents + amount_cents
        new_status = InvoiceStatus.REFUNDED if refunded == invoice.paid_cents else InvoiceStatus.PARTIALLY_REFUNDED
        _change(invoice, action="refunded", new_status=new_status, fields={"refunded_cents": refunded}, actor=actor,
                metadata={"credit_note": credit_note.credit_note_number, "amount_cents": amount_cents, "reason": reason,
                          **({"stripe_refund_id": external_reference} if method == Payment.Method.STRIPE
                             and external_reference.startswith("re_") else {})})
    return credit_note


def invoice_void(*, invoice_id: int, actor: User | None = None, reason: str = "",
                 expected_version: int | None = None) -> Invoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        return _void_locked(invoice, actor=actor, reason=reason)


def _void_locked(invoice: Invoice, *, actor: User | None, reason: str) -> Invoice:
    INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.VOID)
    if invoice.paid_cents:
        raise Conflict(
            f"Invoice {invoice.invoice_number} has {invoice.paid_cents} paid: record a refund instead of voiding.",
            code="invoice_has_payments",
        )
    voided = _change(invoice, action="voided", new_status=InvoiceStatus.VOID, fields={"voided_at": timezone.now()},
                     actor=actor, metadata={"reason": reason})
    if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
        from breederhq.invoicing.payments import invoice_payment_cancel_on_void

        # Its open payment intent is cancelled by a worker once this void commits.
        invoice_payment_cancel_on_void(invoice_kind="tenant", invoice_id=invoice.pk, using=DB)
    return voided


def invoice_reissue(*, invoice_id: int, actor: User | None = None, lines: list[LineInput] | None = None,
                    tax_cents: int | None = None, reason: str = "") -> Invoice:
    """Correct an issued invoice: void it and create a new draft that names it in `replaces`."""
    with transaction.atomic(using=DB):
        original = _lock_invoice(invoice_id)
        if original.status != InvoiceStatus.VOID:
            _void_locked(original, actor=actor, reason=reason or "reissued")
        if lines is None:
            lines = [LineInput(description=li.description, unit_price_cents=li.unit_price_cents, quantity=li.quantity)
                     for li in original.line_items.all()]
        return invoice_create(
            contact_id=original.contact_id, lines=lines, currency=original.currency,
            tax_cents=original.tax_cents if tax_cents is None else tax_cents, notes=original.notes,
            due_date=original.due_date, is_marketplace_invoice=original.is_marketplace_invoice, actor=actor,
            replaces=original,
        )


def invoice_delete(*, invoice_id: int, actor: User | None = None, expected_version: int | None = None) -> None:
    """Soft delete (the row stays: the marketplace may point at it). Only drafts and void invoices."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            raise Conflict(f"Invoice {invoice.invoice_number} is {invoice.status}: void it before deleting it.",
                           code="invoice_issued")
        _change(invoice, action="deleted", fields={"deleted_at": timezone.now()}, actor=actor)


def invoice_set_reconciliation_status(*, invoice_id: int, status: str, note: str = "", actor: User | None = None,
                                      actor_label: str = "") -> Invoice:
    """What Stripe says disagrees (or agrees again) with this invoice, or staff closing a disagreement
    (`resolved`, only on an invoice that disagrees: breederhq/invoicing/lifecycle.py)."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.reconciliation_status == status:
            return invoice
        lifecycle.check_reconciliation_change(KIND, invoice, status)
        return _change(invoice, action="reconciliation", fields={"reconciliation_status": status}, actor=actor,
                       actor_label=actor_label, metadata={"from": invoice.reconciliation_status, "note": note})


def invoice_expire_payment_claim(*, invoice_id: int, actor: User | None = None,
                                 actor_label: str = "") -> Invoice:
    """Expire one buyer claim now (support staff, before the 7-day sweep): back to `sent`, with the
    same confirmation audit row the sweep writes."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="expire")
        marked_at = invoice.buyer_marked_paid_at
        _change(invoice, action="confirmation_expired", new_status=InvoiceStatus.SENT,
                fields={"buyer_marked_paid_at": None}, actor=actor, actor_label=actor_label)
        _confirmation(
            invoice, event=ConfirmationEvent.EXPIRED,
            marked_paid_at=marked_at, confirmed_by=actor, confirmed_by_actor=actor_label,
            confirmed_at=timezone.now(), payment_method=PaymentMode.MANUAL,
        )
    return invoice


def invoice_expire_pending_confirmations(*, now: datetime | None = None) -> list[int]:
    """Buyer claims older than 7 days that nobody confirmed fall back to `sent` (current tenant).

    Rows being confirmed right now are skipped (SKIP LOCKED) and seen again by the next run; the
    WHERE clause is re-checked on the locked row, so a claim confirmed meanwhile is left alone.
    """
    now = now or timezone.now()
    expired = []
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        candidates = (
            Invoice.objects.select_for_update(skip_locked=True)
            .filter(tenant_id=tenant_id, status=InvoiceStatus.PENDING_CONFIRMATION,
                    buyer_marked_paid_at__lte=now - PENDING_CONFIRMATION_TTL)
            .order_by("id")
        )
        for invoice in candidates:
            marked_at = invoice.buyer_marked_paid_at
            _change(invoice, action="confirmation_expired", new_status=InvoiceStatus.SENT,
                    fields={"buyer_marked_paid_at": None}, actor=None, actor_label="system:expire_pending")
            _confirmation(
                invoice, event=ConfirmationEvent.EXPIRED,
                marked_paid_at=marked_at, confirmed_by_actor="system:expire_pending", confirmed_at=now,
                payment_method=PaymentMode.MANUAL,
            )
            expired.append(invoice.pk)
    return expired
