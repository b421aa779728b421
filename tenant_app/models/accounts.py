"""Accounts, global to every tenant: users, their refresh-token families, emailed account tokens and the
account audit log."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q

from breederhq.databases import TENANT_DB
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
