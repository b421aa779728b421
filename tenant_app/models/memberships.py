"""Who belongs to a tenant: memberships, invitations and their audit log."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenant_app.models.accounts import User
from tenant_app.models.tenants import TenantOwned


class TenantMembership(TenantOwned):
    """A user's role in one tenant. Readable by the user themselves without a tenant context (the
    policy also matches `app.current_user_id`), which is how a request finds its tenant."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        STAFF = "staff", "Staff"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)
    #: Bumped by every role change (optimistic locking, like invoices).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tenant_memberships"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="tenant_memberships_one_per_user"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "staff", "viewer"]), name="tenant_memberships_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["user"], name="tenant_memberships_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id} ({self.role})"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"


class InvitationQuerySet(models.QuerySet):
    """The one definition of an open and an expired invitation (a pending one past `expires_at` is
    expired: computed, nothing rewrites the row)."""

    def unexpired(self, *, now=None):
        """Pending and not expired (the `pending` of the API's status)."""
        return self.filter(status=InvitationStatus.PENDING, expires_at__gt=now or timezone.now())

    def open(self, *, now=None):
        """Unexpired, of a tenant that is not deleted: what can still be answered."""
        return self.unexpired(now=now).filter(tenant__deleted_at__isnull=True)

    def expired(self, *, now=None):
        return self.filter(status=InvitationStatus.PENDING, expires_at__lte=now or timezone.now())


class TenantInvitation(TenantOwned):
    """An owner's or admin's offer of a role in their tenant to an email address: the only way into a
    tenant besides creating it. The person it is addressed to accepts (or declines) it while signed in
    with that email; nobody is added to a tenant without their consent.

    Only the SHA-256 of the token is stored with the invitation; the token itself is in the email: the
    queued email row holds it until it is sent, then it is removed from the row (the back office never
    shows it: breederhq.email.SECRETS_IN_TEMPLATES). A pending
    invitation past `expires_at` is expired (computed, nothing rewrites the row). `pending` is the
    only state that moves; accepted, declined and revoked are final.
    """

    Status = InvitationStatus

    objects = InvitationQuerySet.as_manager()

    email = models.EmailField(help_text="Where the invitation was sent; matched case-insensitively on acceptance.")
    role = models.CharField(max_length=10, choices=TenantMembership.Role.choices)
    token_hash = models.CharField(max_length=64, help_text="SHA-256 (hex) of the token in the email.")
    status = models.CharField(max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    #: When and by whom it left `pending` (the invitee for accepted/declined, a manager for revoked).
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "tenant_invitations"
        ordering = ["-created_at", "-id"]
        constraints = [
            # Leading token_hash: the acceptance lookup. Unique per tenant (every unique constraint on a
            # tenant table names the tenant); the token is 256 random bits, so never equal anyway.
            models.UniqueConstraint(fields=["token_hash", "tenant"], name="tenant_invitations_token_unique"),
            models.UniqueConstraint(fields=["id", "tenant"], name="tenant_invitations_id_tenant_unique"),
            # One live invitation per address and tenant: inviting again replaces it.
            models.UniqueConstraint(
                models.F("tenant"),
                models.functions.Lower("email"),
                condition=Q(status="pending"),
                name="tenant_invitations_one_pending_per_email",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "declined", "revoked"]),
                name="tenant_invitations_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "staff", "viewer"]), name="tenant_invitations_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(responded_at__isnull=False),
                name="tenant_invitations_response_recorded",
            ),
        ]
        indexes = [
            models.Index(
                models.functions.Lower("email"), name="tenant_invitations_email_idx", condition=Q(status="pending")
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.tenant_id} ({self.role}, {self.status})"

    def is_expired(self, *, now=None) -> bool:
        """The row's side of InvitationQuerySet.expired()."""
        return self.status == InvitationStatus.PENDING and self.expires_at <= (now or timezone.now())


class MembershipAuditLog(TenantOwned):
    """One row per membership or invitation event, written in the same transaction as the event.
    Keeps the user, not the membership: a removed membership row is gone. Append-only.

    `user` is the account concerned; an invitation sent or revoked names only the address (`email`):
    whether an account uses it is nobody's business until its owner accepts or declines.
    """

    append_only = True

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        ROLE_CHANGED = "role_changed", "Role changed"
        REMOVED = "removed", "Removed"
        INVITED = "invited", "Invited"
        INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted (joined)"
        INVITATION_DECLINED = "invitation_declined", "Invitation declined"
        INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
        LEFT = "left", "Left the tenant"

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField(blank=True, help_text="The address invited (invitation events).")
    invitation = models.ForeignKey(TenantInvitation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    old_role = models.CharField(max_length=10, blank=True)
    new_role = models.CharField(max_length=10, blank=True)
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "membership_audit_log"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    action__in=[
                        "added",
                        "role_changed",
                        "removed",
                        "invited",
                        "invitation_accepted",
                        "invitation_declined",
                        "invitation_revoked",
                        "left",
                    ]
                ),
                name="membership_audit_log_action_valid",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(action__in=["invited", "invitation_revoked"]),
                name="membership_audit_log_user_named",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "id"], name="membership_audit_tenant_idx")]

    def __str__(self) -> str:
        who = self.email if self.user_id is None else f"user #{self.user_id}"
        return f"{self.get_action_display()}: {who} in tenant #{self.tenant_id}"
