"""The tenant database: breeder businesses, their staff, contacts, invoices and payments.

Every table here except `users` and `tenants` is tenant-owned: it carries `tenant_id` and a FORCED
row-level security policy (breederhq.tenancy), so the application role only ever sees the rows of
the tenant in the current context. Unique constraints on those tables include `tenant_id`, or a
violation would reveal that another tenant has the value.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesMixin, SoftDeleteModel, SoftDeleteQuerySet
from breederhq.databases import TENANT_DB
from breederhq.invoicing.models import (
    AbstractInvoice,
    AbstractInvoiceAuditLog,
    AbstractInvoiceLineItem,
    AbstractPaymentConfirmationAudit,
)
from breederhq.invoicing.status import INVOICE_TRANSITIONS as _INVOICE_TRANSITIONS
from breederhq.invoicing.status import InvoiceStatus as _InvoiceStatus
from breederhq.money import CentsField, CurrencyField, Money, amount_bound_check, currency_check
from breederhq.reconciliation import ReconciliationStatus as _ReconciliationStatus
from breederhq.reconciliation import reconciliation_status_check
from breederhq.tenancy import UnscopedTenantLookup
from tenant_app.user_deletion import UserManager, user_soft_delete


class User(AbstractUser):
    """A person who signs in to the tenant side or the back office.

    Custom from the first migration so the user table can grow without a swap later. Email is the
    login identity people know; it is unique case-insensitively. Global: one person may belong to
    several tenants through TenantMembership.
    """

    email = models.EmailField("email address", unique=True)
    tokens_valid_after = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="API tokens issued before this moment are void (sign-out everywhere, a password change, "
        "a deactivation); see breederhq/api/sessions.py.",
    )
    email_verified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the owner of the address proved it by the emailed link. Until then the account "
        "can sign in but not buy, sell or invite (tenant_app/accounts.py).",
    )
    #: Soft delete only: the marketplace may point at the user (tenant_app/user_deletion.py).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(models.functions.Lower("email"), name="users_email_lower_unique"),
        ]

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_credentials = (instance.__dict__.get("password"), instance.__dict__.get("is_active"))
        return instance

    def _get_session_auth_hash(self, secret=None):
        """Django checks this hash on every request of a signed-in (Django) session. It covers the
        revocation stamp too, so whatever moves the stamp (sign out everywhere, from the API or the back
        office, a password change, a deactivation, a second-factor reset) also ends every Django
        session of the user: the admin's and the API's session authentication alike. Until the stamp is
        first set it is Django's own hash, so existing sessions are kept."""
        if self.tokens_valid_after is None:
            return super()._get_session_auth_hash(secret=secret)
        from django.utils.crypto import salted_hmac

        value = f"{self.password}\0{self.tokens_valid_after.isoformat()}"
        return salted_hmac("tenant_app.User.session_auth_hash", value, secret=secret, algorithm="sha256").hexdigest()

    def check_password(self, raw_password):
        # A correct password whose hash is upgraded on the way (a new hasher or iteration count) is
        # saved again: not a password change, so no sign-out.
        self._rehashing_password = True
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing_password = False

    async def acheck_password(self, raw_password):
        self._rehashing_password = True
        try:
            return await super().acheck_password(raw_password)
        finally:
            self._rehashing_password = False

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def delete(self, using=None, keep_parents=False):
        user_soft_delete(user_id=self.pk)
        self.refresh_from_db(using=using, fields=["deleted_at", "is_active", "tokens_valid_after"])
        return 0, {}

    def hard_delete(self, using=None):
        """Really delete, refused (nothing deleted) while the marketplace points at the user."""
        return type(self).objects.using(using or TENANT_DB).filter(pk=self.pk).hard_delete()

    def save(self, *args, **kwargs):
        """A changed password hash (any path: the API, the admin's password form, `set_password`) or a
        deactivation voids every API token issued before it (breederhq.api.sessions)."""
        from breederhq.api.sessions import credentials_changed, next_revocation_stamp

        if self.pk is not None and credentials_changed(self):
            self.tokens_valid_after = next_revocation_stamp(self.tokens_valid_after)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "tokens_valid_after"}
        super().save(*args, **kwargs)
        self._loaded_credentials = (self.__dict__.get("password"), self.__dict__.get("is_active"))


class RefreshTokenFamily(models.Model):
    """One sign-in and every refresh token rotated from it (`fam` claim in the tokens).

    Presenting a refresh token that was already used revokes the whole family: the thief's and the
    owner's descendants alike (breederhq/api/sessions.py). A global table, not tenant-owned: it is keyed
    by the user, whatever tenants they belong to.
    """

    id = models.UUIDField(primary_key=True)
    user_id = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: The last new refresh token issued in it: once that has expired, no token of it can be used.
    last_issued_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=50, blank=True)

    class Meta:
        db_table = "refresh_token_families"
        indexes = [models.Index(fields=["last_issued_at"], name="refresh_families_issued_idx")]

    def __str__(self) -> str:
        return f"{self.id} (user {self.user_id}{', revoked' if self.revoked_at else ''})"


class AccountTokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email", "Verify the email address"
    RESET_PASSWORD = "reset_password", "Reset the password"


class AccountToken(models.Model):
    """An emailed, single-use, expiring secret for one account: email verification or password reset.

    Only the SHA-256 of the token is stored (breederhq.secret_tokens, the same rule as invitations).
    Used once: the use locks the row and sets `used_at`. Issuing a new token of a purpose voids the
    account's open ones of that purpose (`voided_at`); a password reset voids every open token of the
    account. Global, like `users`: an account belongs to no tenant.
    """

    Purpose = AccountTokenPurpose

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=20, choices=AccountTokenPurpose.choices)
    #: The address the token was sent to: verifying proves this address, not whatever the account has now.
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "account_tokens"
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose__in=["verify_email", "reset_password"]), name="account_tokens_purpose_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["user", "purpose"],
                name="account_tokens_user_idx",
                condition=Q(used_at__isnull=True, voided_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} for user {self.user_id}"


class AccountAuditLog(models.Model):
    """One row per account event (signed up, verified, password reset or changed, deleted), written in
    the same transaction as the event. Append-only. Keeps the user id, not a foreign key: an erased
    account's history stays."""

    append_only = True

    class Action(models.TextChoices):
        SIGNED_UP = "signed_up", "Signed up"
        EMAIL_VERIFIED = "email_verified", "Email verified"
        PASSWORD_RESET = "password_reset", "Password reset by email"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        DELETED = "deleted", "Account deleted (personal data erased)"

    user_id = models.BigIntegerField(db_index=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "account_audit_log"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.action}"


class PaymentMode(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    MANUAL = "manual", "Manual (bank transfer, cash)"
    DISABLED = "disabled", "Marketplace payments disabled"


class Tenant(SoftDeleteModel):
    """A breeder business: owns its staff memberships, contacts, invoices and payments.

    Not itself under RLS: it holds no private data (name, slug, payment mode), the marketplace
    resolves tenants by id, and invoice creation must lock this row before any context exists for
    the invoice.
    """

    PaymentMode = PaymentMode

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    marketplace_payment_mode = models.CharField(max_length=20, choices=PaymentMode.choices, default=PaymentMode.MANUAL)
    # The business's profile, edited by its owners (tenant_app.services.tenant_update_profile).
    contact_email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    address_line1 = models.CharField(max_length=200, blank=True, default="")
    address_line2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166-1 alpha-2, e.g. US.")
    #: The currency new invoices get when the request names none.
    default_currency = CurrencyField()
    #: Put before the sequence number of new invoices: "INV-" gives INV-000042.
    invoice_number_prefix = models.CharField(max_length=12, default="INV-")
    #: Bumped by every profile change (optimistic locking, like invoices).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(marketplace_payment_mode__in=["stripe", "manual", "disabled"]),
                name="tenants_payment_mode_valid",
            ),
            currency_check("default_currency", name="tenants_default_currency_valid"),
            models.CheckConstraint(
                condition=models.Q(invoice_number_prefix__regex=r"^[A-Za-z0-9][A-Za-z0-9_/-]{0,11}$"),
                name="tenants_invoice_number_prefix_valid",
            ),
            models.CheckConstraint(condition=models.Q(country__regex=r"^([A-Z]{2})?$"), name="tenants_country_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class TenantOwned(models.Model):
    """Base for every tenant-owned table: the `tenant_id` column the RLS policy compares."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


class TenantProfileAuditLog(TenantOwned):
    """One row per creation or profile change of a tenant, written in the same transaction: who, when,
    and each changed field's old and new value. Append-only."""

    append_only = True

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Profile updated"

    action = models.CharField(max_length=10, choices=Action.choices)
    #: {"field": [old, new], ...}; for a creation, every field's first value ([null, value]).
    changes = models.JSONField(default=dict)
    version = models.PositiveIntegerField(help_text="The tenant's version after the change.")
    changed_by = models.ForeignKey("User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tenant_profile_audit_log"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"tenant {self.tenant_id} {self.action} v{self.version}"


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


class DocumentSequence(TenantOwned):
    """Gap-free per-tenant numbering of invoices and credit notes (rolls back with its transaction)."""

    kind = models.CharField(max_length=20)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "tenant_document_sequences"
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="tenant_document_sequences_unique")]

    def __str__(self) -> str:
        return f"{self.kind} numbering of tenant #{self.tenant_id}: last {self.last_value}"


# --- Contacts ---------------------------------------------------------------------------------------


def _mentions(node, names: tuple[str, ...]) -> bool:
    if isinstance(node, Q):
        return any(_mentions(child, names) for child in node.children)
    if isinstance(node, tuple):
        return node[0].split("__")[0] in names
    return False


class ContactQuerySet(SoftDeleteQuerySet):
    """Refuses to look contacts up by `marketplace_user_id` unless the same query names the tenant:
    the classic leak is `filter(marketplace_user_id=42)` across every tenant. RLS
    already confines the result to the current tenant; this makes the mistake loud in code too."""

    _tenant_scoped = False

    def _clone(self):
        clone = super()._clone()
        clone._tenant_scoped = self._tenant_scoped
        return clone

    def _filter_or_exclude(self, negate, args, kwargs):
        conditions = [*args, *kwargs.items()]
        names_tenant = any(_mentions(c, ("tenant", "tenant_id")) for c in conditions)
        if (
            not self._tenant_scoped
            and not names_tenant
            and any(_mentions(c, ("marketplace_user_id", "marketplace_user")) for c in conditions)
        ):
            raise UnscopedTenantLookup(
                "Contacts are never looked up by marketplace_user_id without a tenant: add "
                "tenant_id=... to the same filter, or use "
                "tenant_app.selectors.contact_get_by_marketplace_user."
            )
        clone = super()._filter_or_exclude(negate, args, kwargs)
        clone._tenant_scoped = self._tenant_scoped or names_tenant
        return clone


class ContactManager(models.Manager.from_queryset(ContactQuerySet)):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Contact(CrossDatabaseReferencesMixin, TenantOwned, SoftDeleteModel):
    """A party the tenant deals with: a person or an organisation (the Party pattern)."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        ORGANIZATION = "organization", "Organisation"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PERSON)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    notes = models.TextField(blank=True)
    # No single-column index: the only lookups allowed name the tenant too, which the partial
    # unique index below serves.
    marketplace_user_id = CrossDatabaseReference(
        "marketplace_app.MarketplaceUser", null=True, blank=True, db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactManager()
    all_objects = models.Manager.from_queryset(ContactQuerySet)()

    class Meta:
        db_table = "contacts"
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["marketplace_user_id", "tenant"],
                condition=Q(marketplace_user_id__isnull=False),
                name="contacts_marketplace_user_tenant_unique",
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="contacts_id_tenant_unique"),
            models.CheckConstraint(condition=Q(kind__in=["person", "organization"]), name="contacts_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind="person") & ~(Q(first_name="") & Q(last_name="")))
                | (Q(kind="organization") & ~Q(organization_name="")),
                name="contacts_has_a_name",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "last_name", "first_name"], name="contacts_tenant_name_idx")]

    @property
    def display_name(self) -> str:
        if self.kind == self.Kind.ORGANIZATION:
            return self.organization_name
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def __str__(self) -> str:
        return self.display_name


# --- Invoices ---------------------------------------------------------------------------------------


# One status enum and one transition table for every invoice kind (breederhq/invoicing/status.py).
InvoiceStatus = _InvoiceStatus
INVOICE_TRANSITIONS = _INVOICE_TRANSITIONS


# One set for every invoice kind and payment row (breederhq/reconciliation.py); re-exported here.
ReconciliationStatus = _ReconciliationStatus


def receipt_upload_path(instance: Invoice, filename: str) -> str:
    return f"tenants/{instance.tenant_id}/receipts/{instance.pk or 'new'}/{filename}"


class Invoice(TenantOwned, SoftDeleteModel, AbstractInvoice):
    """A breeder's invoice. Once sent it is a ledger document: its amounts, lines, currency and
    payment mode never change (a trigger enforces it); corrections are void + reissue and refunds
    issue credit notes. The common columns and the lifecycle are the invoice core's
    (breederhq/invoicing/); this adds the tenant, the contact, payments and replacement."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="invoices")
    paid_cents = CentsField()
    payment_mode_snapshot = models.CharField(max_length=20, choices=PaymentMode.choices)
    buyer_payment_receipt = models.FileField(upload_to=receipt_upload_path, max_length=500, blank=True, default="")
    is_marketplace_invoice = models.BooleanField(default=False)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "invoices"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "invoice_number"], name="invoices_number_unique_per_tenant"),
            models.UniqueConstraint(fields=["id", "tenant"], name="invoices_id_tenant_unique"),
            currency_check(name="invoices_currency_iso"),
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="invoices_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_mode_snapshot__in=PaymentMode.values), name="invoices_payment_mode_valid"
            ),
            reconciliation_status_check(name="invoices_reconciliation_status_valid"),
            models.CheckConstraint(
                condition=Q(subtotal_cents__gte=0, tax_cents__gte=0, paid_cents__gte=0, refunded_cents__gte=0),
                name="invoices_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_cents=models.F("subtotal_cents") + models.F("tax_cents")),
                name="invoices_total_is_subtotal_plus_tax",
            ),
            # breederhq.money.MAX_AMOUNT_CENTS: with the checks above, bounds every amount of the invoice.
            amount_bound_check("total_cents", name="invoices_total_within_bound"),
            models.CheckConstraint(
                condition=Q(paid_cents__lte=models.F("total_cents")), name="invoices_paid_not_above_total"
            ),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=models.F("paid_cents")), name="invoices_refunded_not_above_paid"
            ),
            # Issued documents stay visible in the ledger: only drafts and void invoices are
            # (soft-)deleted.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
                name="invoices_only_draft_or_void_deleted",
            ),
            # A manual payment claimed by the buyer always has a receipt.
            models.CheckConstraint(
                condition=~Q(payment_mode_snapshot="manual")
                | Q(buyer_marked_paid_at__isnull=True)
                | ~Q(buyer_payment_receipt=""),
                name="invoices_manual_mark_paid_needs_receipt",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="invoices_tenant_status_idx"),
            # The 7-day expiry sweep of buyers' unconfirmed claims.
            models.Index(
                fields=["status", "buyer_marked_paid_at"],
                name="invoices_pending_confirm_idx",
                condition=Q(status=InvoiceStatus.PENDING_CONFIRMATION),
            ),
        ]

    @property
    def balance_cents(self) -> int:
        return self.total_cents - self.paid_cents


class InvoiceLineItem(TenantOwned, AbstractInvoiceLineItem):
    """One line of a tenant invoice (columns: breederhq/invoicing/models.py)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="line_items")
    description = models.CharField(max_length=500)

    class Meta(AbstractInvoiceLineItem.Meta):
        db_table = "invoice_line_items"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_items_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price_cents__gte=0), name="invoice_line_items_price_not_negative"),
            models.CheckConstraint(
                condition=Q(total_cents=models.F("quantity") * models.F("unit_price_cents")),
                name="invoice_line_items_total_is_quantity_times_price",
            ),
            amount_bound_check("total_cents", name="invoice_line_items_total_within_bound"),
        ]


class CreditNote(TenantOwned):
    """The document a refund issues, numbered in its own per-tenant sequence. Append-only."""

    append_only = True

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    credit_note_number = models.CharField(max_length=50)
    currency = CurrencyField()
    amount_cents = CentsField()
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "credit_notes"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "credit_note_number"], name="credit_notes_number_unique_per_tenant"
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="credit_notes_id_tenant_unique"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="credit_notes_amount_positive"),
            currency_check(name="credit_notes_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.credit_note_number


class Payment(TenantOwned):
    """Money received for an invoice, or given back. Processor-agnostic.

    Refunds are **separate rows** with `kind = refund` and a *positive* `amount_cents`, each tied to
    the credit note it issued; nothing is ever negative and nothing is updated, so the invoice's
    `paid_cents` is the sum of its payment rows and `refunded_cents` the sum of its refund rows.
    `idempotency_key` is unique per tenant: recording the same payment twice returns the first row.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"

    class Method(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual (bank transfer, cash)"
        OTHER = "other", "Other"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAYMENT)
    method = models.CharField(max_length=10, choices=Method.choices)
    amount_cents = CentsField()
    currency = CurrencyField()
    external_reference = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255)
    credit_note = models.ForeignKey(CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="payments_idempotency_key_unique_per_tenant"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payments_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=["payment", "refund"]), name="payments_kind_valid"),
            models.CheckConstraint(condition=Q(method__in=["stripe", "manual", "other"]), name="payments_method_valid"),
            models.CheckConstraint(
                condition=Q(kind="payment", credit_note__isnull=True) | Q(kind="refund", credit_note__isnull=False),
                name="payments_refund_has_credit_note",
            ),
            currency_check(name="payments_currency_iso"),
        ]
        indexes = [models.Index(fields=["invoice", "kind"], name="payments_invoice_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {Money(self.amount_cents, self.currency).format()} ({self.get_method_display()})"


# --- Audit ------------------------------------------------------------------------------------------


class InvoiceAuditLog(TenantOwned, AbstractInvoiceAuditLog):
    """The audit trail of tenant invoices (columns: breederhq/invoicing/models.py). Append-only."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="audit_log")
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "invoice_audit_log"
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice", "id"], name="invoice_audit_log_invoice_idx")]


class PaymentConfirmationAudit(CrossDatabaseReferencesMixin, TenantOwned, AbstractPaymentConfirmationAudit):
    """Each step of a tenant invoice's payment confirmation (columns: breederhq/invoicing/models.py).
    Append-only."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="confirmation_audit")
    marked_paid_by_marketplace_user_id = CrossDatabaseReference(
        "marketplace_app.MarketplaceUser", null=True, blank=True, db_index=False
    )
    confirmed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "payment_confirmation_audit"
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice", "id"], name="payment_confirm_audit_inv_idx")]


# The stored PDFs of invoices and credit notes (kept in their own module).
from tenant_app.document_models import InvoiceDocument  # noqa: E402,F401
