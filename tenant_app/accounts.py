"""Accounts on their own: sign-up, email verification, password reset and change, account deletion.

Described for API clients in docs/api/accounts.md. The rules:

* **Emailed tokens** (verification, reset) follow breederhq.secret_tokens, like tenant invitations:
  256 random bits, only the SHA-256 stored (`AccountToken`), single use (the row is locked, checked
  and closed in one transaction), expiring. Issuing a token voids the account's open ones of that
  purpose, so only the newest link works.
* **Unverified accounts** sign in, but may not buy, sell or invite (`require_verified_email`,
  403 `email_unverified`).
* **Nothing tells who has an account.** Sign-up and reset requests get the same answer whether or not
  the address is taken; the address's owner gets an email saying what happened.
* **Credentials changes void sessions.** A reset or a change sets a new password hash through
  `User.save()`, which moves the revocation stamp (breederhq/api/sessions.py): every token issued
  before is void. A change gives the caller a fresh pair.
* **Deletion** erases the person: their marketplace identity through `marketplace_user_erase` (the
  erasure staff use, which withdraws a provider and unlinks the tenants' contacts), their memberships
  removed (audited), the account anonymised, deactivated and soft-deleted (never a hard delete: the
  marketplace points at the row). The last owner of a tenant is refused.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_enqueue
from breederhq.errors import Conflict, Gone, NotFound, PermissionDenied, ValidationFailed
from breederhq.secret_tokens import new_secret_token, secret_token_hash
from breederhq.tenancy import USER_SETTING, tenant_context
from tenant_app.models import (
    AccountAuditLog,
    AccountToken,
    AccountTokenPurpose,
    MembershipAuditLog,
    TenantMembership,
    User,
)

DB = TENANT_DB


def normalize_email(email: str) -> str:
    return User.objects.normalize_email((email or "").strip())


def _audit(user_id: int, action: str, ip: str | None) -> None:
    AccountAuditLog.objects.using(DB).create(user_id=user_id, action=action, ip_address=ip or None)


def _check_new_password(password: str, *, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "The password is too weak.", field_errors={field: list(exc.messages)}, code="password_too_weak"
        ) from None


# --- Verified email: the gate on buying, selling and inviting -----------------------------------------


def is_email_verified(user) -> bool:
    """Read live when the (possibly cached) user says no: a verification takes effect at once."""
    if getattr(user, "email_verified_at", None) is not None:
        return True
    return User.objects.using(DB).filter(pk=user.pk, email_verified_at__isnull=False).exists()


def require_verified_email(user, *, to: str) -> None:
    """403 `email_unverified` unless the account's address is verified. `to` says what was refused."""
    if not is_email_verified(user):
        raise PermissionDenied(
            f"Verify your email address before you {to}: follow the link we emailed you, "
            "or ask for a new one at POST /api/v1/auth/verify-email/resend/.",
            code="email_unverified",
        )


# --- Tokens ------------------------------------------------------------------------------------------


def _ttl(purpose: str) -> timedelta:
    if purpose == AccountTokenPurpose.VERIFY_EMAIL:
        return timedelta(hours=settings.ACCOUNT_VERIFY_EMAIL_TTL_HOURS)
    return timedelta(minutes=settings.ACCOUNT_PASSWORD_RESET_TTL_MINUTES)


def _issue(user: User, purpose: str) -> str:
    """A new token of `purpose` for `user` (the open ones of that purpose are voided) and its email.
    Call inside a transaction on DB."""
    now = timezone.now()
    AccountToken.objects.using(DB).filter(
        user=user, purpose=purpose, used_at__isnull=True, voided_at__isnull=True
    ).update(voided_at=now)
    token, token_hash = new_secret_token()
    row = AccountToken.objects.using(DB).create(
        user=user, purpose=purpose, email=user.email, token_hash=token_hash, expires_at=now + _ttl(purpose)
    )
    template, url = {
        AccountTokenPurpose.VERIFY_EMAIL: ("account_verify_email", settings.ACCOUNT_VERIFY_EMAIL_URL),
        AccountTokenPurpose.RESET_PASSWORD: ("account_password_reset", settings.ACCOUNT_PASSWORD_RESET_URL),
    }[purpose]
    email_enqueue(
        using=DB,
        event_key=f"account_token:{row.pk}",
        template=template,
        to=[user.email],
        context={
            "name": user.first_name or user.email,
            "email": user.email,
            "token": token,
            "url": url.replace("{token}", token),
            "expires_at": row.expires_at,
        },
    )
    return token


def _use(token: str, purpose: str) -> AccountToken:
    """Lock the token's row and check it is open: 404 unknown (or of another purpose), 409 used or
    replaced, 410 expired. Call inside a transaction on DB; the caller closes it (`used_at`)."""
    row = (
        AccountToken.objects.using(DB)
        .select_for_update()
        .select_related("user")
        .filter(token_hash=secret_token_hash(token or ""), purpose=purpose)
        .first()
    )
    if row is None:
        raise NotFound(
            "No such link: check the link in the email, or ask for a new one.", code="account_token_not_found"
        )
    if row.used_at is not None:
        raise Conflict("This link has been used already.", code="account_token_used")
    if row.voided_at is not None:
        raise Conflict("A newer link replaced this one: use the latest email.", code="account_token_replaced")
    if row.expires_at <= timezone.now():
        raise Gone("This link has expired: ask for a new one.", code="account_token_expired")
    if not row.user.is_active:
        raise NotFound(
            "No such link: check the link in the email, or ask for a new one.", code="account_token_not_found"
        )
    return row


# --- Sign-up and verification ------------------------------------------------------------------------


def _free_username(email: str) -> str:
    return email if len(email) <= 150 else f"user-{secrets.token_hex(8)}"


def account_sign_up(
    *, email: str, password: str, first_name: str = "", last_name: str = "", ip: str | None = None
) -> User | None:
    """Create an unverified account and email it a verification link. If the address already has an
    account, nothing is created and that account's owner is emailed instead (sign in, or reset the
    password): the caller's answer is the same either way. Returns the new user, or None."""
    email = normalize_email(email)
    _check_new_password(password, user=User(email=email, username=email, first_name=first_name, last_name=last_name))
    with transaction.atomic(using=DB):
        existing = User.objects.using(DB).filter(email__iexact=email).first()
        if existing is None:
            user = User(email=email, username=_free_username(email), first_name=first_name, last_name=last_name)
            user.set_password(password)
            try:
                with transaction.atomic(using=DB):
                    user.save(using=DB)
            except IntegrityError:  # the same address signed up a moment ago
                existing = User.objects.using(DB).filter(email__iexact=email).first()
            else:
                _audit(user.pk, AccountAuditLog.Action.SIGNED_UP, ip)
                _issue(user, AccountTokenPurpose.VERIFY_EMAIL)
                return user
        if existing is not None and existing.is_active:
            email_enqueue(
                using=DB,
                event_key=f"account_exists:{existing.pk}:{secrets.token_hex(8)}",
                template="account_exists",
                to=[existing.email],
                context={
                    "name": existing.first_name or existing.email,
                    "email": existing.email,
                    "reset_url": settings.ACCOUNT_PASSWORD_RESET_REQUEST_URL,
                },
            )
    return None


def verification_resend(*, user: User) -> None:
    """A new verification link for a signed-in, unverified account (the previous link stops working)."""
    with transaction.atomic(using=DB):
        account = User.objects.using(DB).select_for_update().get(pk=user.pk)
        if account.email_verified_at is not None:
            raise Conflict("Your email address is verified already.", code="email_already_verified")
        _issue(account, AccountTokenPurpose.VERIFY_EMAIL)


def email_verify(*, token: str, ip: str | None = None) -> User:
    """The emailed verification token -> the account's address is verified (once)."""
    with transaction.atomic(using=DB):
        row = _use(token, AccountTokenPurpose.VERIFY_EMAIL)
        user = User.objects.using(DB).select_for_update().get(pk=row.user_id)
        if user.email.lower() != row.email.lower():
            raise Conflict("The account's address changed since this link was sent.", code="account_token_replaced")
        row.used_at = timezone.now()
        row.save(using=DB, update_fields=["used_at"])
        if user.email_verified_at is None:
            user.email_verified_at = row.used_at
            user.save(using=DB, update_fields=["email_verified_at"])
            _audit(user.pk, AccountAuditLog.Action.EMAIL_VERIFIED, ip)
    return user


# --- Password reset and change -----------------------------------------------------------------------


def password_reset_request(*, email: str) -> None:
    """Email a reset link if an active account has the address; otherwise do nothing. The caller
    answers the same either way."""
    email = normalize_email(email)
    with transaction.atomic(using=DB):
        user = User.objects.using(DB).filter(email__iexact=email, is_active=True).first()
        if user is not None:
            _issue(user, AccountTokenPurpose.RESET_PASSWORD)


def password_reset_confirm(*, token: str, new_password: str, ip: str | None = None) -> User:
    """The emailed reset token and a new password: the password is set, every token of the account
    (sign-ins on every device, and every other open emailed link) is void. Following the link proves
    the address, so an unverified account is verified too."""
    with transaction.atomic(using=DB):
        row = _use(token, AccountTokenPurpose.RESET_PASSWORD)
        user = User.objects.using(DB).select_for_update().get(pk=row.user_id)
        _check_new_password(new_password, user=user)
        now = timezone.now()
        row.used_at = now
        row.save(using=DB, update_fields=["used_at"])
        AccountToken.objects.using(DB).filter(user=user, used_at__isnull=True, voided_at__isnull=True).update(
            voided_at=now
        )
        user.set_password(new_password)  # save() moves the revocation stamp: every session ends
        if user.email_verified_at is None and user.email.lower() == row.email.lower():
            user.email_verified_at = now
        user.save(using=DB)
        _audit(user.pk, AccountAuditLog.Action.PASSWORD_RESET, ip)
    return user


def _check_current_password(user: User, password: str) -> None:
    if not user.check_password(password or ""):
        raise ValidationFailed(
            "The current password is wrong.",
            code="wrong_password",
            field_errors={"current_password": ["Wrong password."]},
        )


def password_change(*, user: User, current_password: str, new_password: str, ip: str | None = None) -> User:
    """A signed-in user's new password (the current one required). Every token issued before is void,
    the caller's own included: the caller gets a fresh pair from the view."""
    with transaction.atomic(using=DB):
        account = User.objects.using(DB).select_for_update().get(pk=user.pk)
        _check_current_password(account, current_password)
        _check_new_password(new_password, user=account, field="new_password")
        if account.check_password(new_password):
            raise ValidationFailed(
                "The new password is the current one.",
                code="password_unchanged",
                field_errors={"new_password": ["Same as the current password."]},
            )
        account.set_password(new_password)
        account.save(using=DB)  # moves the revocation stamp
        AccountToken.objects.using(DB).filter(
            user=account, purpose=AccountTokenPurpose.RESET_PASSWORD, used_at__isnull=True, voided_at__isnull=True
        ).update(voided_at=timezone.now())
        _audit(account.pk, AccountAuditLog.Action.PASSWORD_CHANGED, ip)
    return account


# --- Deletion ----------------------------------------------------------------------------------------


def _own_tenant_ids(user_id: int) -> list[int]:
    """The tenants the user is a member of (the memberships policy lets a user read their own rows)."""
    with transaction.atomic(using=DB):
        with connections[DB].cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [USER_SETTING, str(user_id)])
        ids = sorted(TenantMembership.objects.using(DB).filter(user_id=user_id).values_list("tenant_id", flat=True))
        with connections[DB].cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', true)", [USER_SETTING])
    return ids


def _last_owner_of(user_id: int, tenant_ids: list[int], *, lock: bool) -> list[int]:
    """The tenants among `tenant_ids` where the user is the only owner. With `lock`, every owner
    membership of each tenant is locked first (as a role change does), so a concurrent departure of
    another owner cannot leave a tenant ownerless."""
    alone = []
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id, using=DB):
            owners = TenantMembership.objects.using(DB).filter(tenant_id=tenant_id, role=TenantMembership.Role.OWNER)
            if lock:
                owners = owners.select_for_update().order_by("id")
            owner_ids = [m.user_id for m in owners]
            if owner_ids == [user_id]:
                alone.append(tenant_id)
    return alone


def _refuse_last_owner(alone: list[int]) -> None:
    if alone:
        raise Conflict(
            "You are the last owner of a tenant: make another member owner (or delete the tenant) "
            "before deleting your account.",
            code="last_owner",
            extra={"tenant_ids": alone},
        )


def account_delete(*, user: User, password: str, ip: str | None = None) -> None:
    """Delete the signed-in account (its password required): 409 `last_owner` if it is the only owner
    of a tenant. Otherwise its marketplace identity is erased (`marketplace_user_erase`), its
    memberships removed (audited in each tenant), its open emailed links voided and the account
    anonymised and deactivated, which voids every token it holds. Records that belong to others
    (invoices, payments, audit trails) keep their rows and amounts."""
    from marketplace_app.models import MarketplaceUser
    from marketplace_app.services import marketplace_user_erase
    from tenant_app.user_deletion import mark_deleted

    account = User.objects.using(DB).get(pk=user.pk)
    _check_current_password(account, password)
    _refuse_last_owner(_last_owner_of(account.pk, _own_tenant_ids(account.pk), lock=False))
    # The marketplace first: it is idempotent, so if the tenant side below fails, deleting again finishes.
    marketplace_ids = list(
        MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(tenant_user_id=account.pk).values_list("pk", flat=True)
    )
    for marketplace_user_id in marketplace_ids:
        marketplace_user_erase(user_id=marketplace_user_id)
    with transaction.atomic(using=DB):
        account = User.objects.using(DB).select_for_update().get(pk=user.pk)
        tenant_ids = _own_tenant_ids(account.pk)
        _refuse_last_owner(_last_owner_of(account.pk, tenant_ids, lock=True))
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id, using=DB):
                membership = TenantMembership.objects.using(DB).filter(tenant_id=tenant_id, user=account).first()
                if membership is not None:
                    MembershipAuditLog.objects.using(DB).create(
                        tenant_id=tenant_id,
                        user=account,
                        action=MembershipAuditLog.Action.LEFT,
                        old_role=membership.role,
                        new_role="",
                        changed_by=account,
                    )
                    membership.delete()
        AccountToken.objects.using(DB).filter(user=account, used_at__isnull=True, voided_at__isnull=True).update(
            voided_at=timezone.now()
        )
        erased = f"erased-{account.pk}@erased.invalid"
        account.email = erased
        account.username = erased
        account.first_name = ""
        account.last_name = ""
        account.set_unusable_password()
        account.is_active = False  # with the new hash, save() moves the revocation stamp
        account.save(using=DB)
        mark_deleted(account)  # soft delete: the marketplace still points at the row (tenant_app/user_deletion.py)
        _audit(account.pk, AccountAuditLog.Action.DELETED, ip)
