"""Sign-in sessions: refresh-token rotation with reuse detection, and revocation of every token.

Described for API clients in docs/api/sessions.md. In short:

* **Families.** A sign-in starts a family (`tenant_app.RefreshTokenFamily`); every token of it, refresh
  and access, carries its id in the `fam` claim, and a refresh keeps it.
* **One use per refresh token.** A refresh (`refresh_rotate`) locks the family row and blacklists the
  token it was sent by inserting its `BlacklistedToken` row, whose `token` column is unique: of any number
  of simultaneous refreshes with one token exactly one inserts it and gets a new pair. Every other
  presentation of a used refresh token is a *reuse*: the whole family is revoked (every refresh and
  access token of that sign-in, the thief's and the owner's) and an `authorization_audit` row is
  written. Simultaneous uses count as reuse too: a thief racing the owner looks exactly like a client
  that refreshes twice at once, so the cautious answer (sign in again) is the one given to both.
* **The revocation stamp.** `users.tokens_valid_after` moves forward on sign-out-everywhere, on any
  change of the password hash, on deactivation and by staff (admin action). Every token carries the
  stamp its user had when it was issued (`rev`, microseconds since the epoch, 0 for none) and is good
  only while the stamp has not moved: tokens issued before the stamp are void. Comparing the stamp
  itself rather than the token's `iat` leaves no window: a token minted from a read of the old stamp
  while the stamp moves is refused as well.
* **Checked on every authenticated request** (`session_check`): one query reads the user's `is_active`,
  the stamp and the family's revocation. Reads keep the answer per process for at most
  `API_REVOCATION_CACHE_SECONDS` (default 1); writes read it live; a change made through the ORM in
  this process drops the entry at once. So a revocation or a deactivation reaches every process within
  that bound, with no dependency on Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from breederhq.api import identity_cache
from breederhq.databases import TENANT_DB
from breederhq.identity import tenant_identity

FAMILY_CLAIM = "fam"
REVOCATION_CLAIM = "rev"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Family ids for refresh tokens issued before families existed: derived from the token's jti, so a
#: reuse of such a token finds the family its one rotation started.
_LEGACY_FAMILY_NAMESPACE = uuid.UUID("8d7f5a52-4c39-4c0e-9d55-3f0c2b1d6a10")

REASON_REUSE = "reuse"
REASON_SIGNED_OUT = "signed_out"


def revocation_cache_seconds() -> float:
    return float(getattr(settings, "API_REVOCATION_CACHE_SECONDS", 1))


# --- The stamp ---------------------------------------------------------------------------------------


def stamp_claim(stamp: datetime | None) -> int:
    """The `rev` claim for a stamp: whole microseconds since the epoch (exact), 0 for none."""
    return 0 if stamp is None else (stamp - _EPOCH) // timedelta(microseconds=1)


def next_revocation_stamp(previous: datetime | None) -> datetime:
    """Now, but always later than the previous stamp (two revocations never share a value)."""
    now = timezone.now()
    if previous is not None and now <= previous:
        now = previous + timedelta(microseconds=1)
    return now


def credentials_changed(user) -> bool:
    """Whether saving `user` changes its password hash or deactivates it (tenant_app.User.save).

    A re-hash of the same password when it is checked (a hasher upgrade) is not a change."""
    if getattr(user, "_rehashing_password", False):
        return False
    loaded = getattr(user, "_loaded_credentials", None)
    if loaded is None:
        row = (
            type(user)
            ._default_manager.using(user._state.db or TENANT_DB)
            .filter(pk=user.pk)
            .values_list("password", "is_active")
            .first()
        )
        if row is None:
            return False
        loaded = row
    old_password, was_active = loaded
    password, active = user.__dict__.get("password"), user.__dict__.get("is_active")
    password_changed = old_password is not None and password is not None and password != old_password
    return password_changed or (was_active is True and active is False)


def user_sign_out_everywhere(*, user_id: int) -> datetime:
    """Void every token of the user issued until now. Returns the new stamp."""
    User = get_user_model()
    with transaction.atomic(using=TENANT_DB):
        user = User.objects.using(TENANT_DB).select_for_update().get(pk=user_id)
        user.tokens_valid_after = next_revocation_stamp(user.tokens_valid_after)
        user.save(update_fields=["tokens_valid_after"])  # post_save drops this process's cached entries
    return user.tokens_valid_after


# --- Issuing -----------------------------------------------------------------------------------------


def family_start(*, user_id: int) -> uuid.UUID:
    RefreshTokenFamily = tenant_identity().refresh_family_model()

    with transaction.atomic(using=TENANT_DB):
        family = RefreshTokenFamily.objects.using(TENANT_DB).create(id=uuid.uuid4(), user_id=user_id)
    return family.id


def session_claims(user, family_id: uuid.UUID) -> dict:
    return {FAMILY_CLAIM: str(family_id), REVOCATION_CLAIM: stamp_claim(user.tokens_valid_after)}


# --- Refresh and revoke --------------------------------------------------------------------------------


class _RefreshTokenUnchecked(Token):
    """A refresh token checked for signature, expiry and type, but not against the blacklist: that
    check is the atomic insert below, not a separate read."""

    token_type = "refresh"
    lifetime = api_settings.REFRESH_TOKEN_LIFETIME


def _refused(message: str = "Token is invalid or has been revoked.") -> AuthenticationFailed:
    return AuthenticationFailed(message, code="token_not_valid")


def _family_id(token) -> uuid.UUID:
    value = token.get(FAMILY_CLAIM)
    if value:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            pass
    return uuid.uuid5(_LEGACY_FAMILY_NAMESPACE, str(token[api_settings.JTI_CLAIM]))


def _family_locked(family_id: uuid.UUID, user_id):
    RefreshTokenFamily = tenant_identity().refresh_family_model()

    RefreshTokenFamily.objects.using(TENANT_DB).get_or_create(id=family_id, defaults={"user_id": int(user_id)})
    return RefreshTokenFamily.objects.using(TENANT_DB).select_for_update().get(id=family_id)


def _use_once(token, user_id) -> bool:
    """Blacklist the token; True if this call did it, False if it was already used. The unique
    `token_blacklist_blacklistedtoken.token_id` decides between simultaneous callers."""
    jti = token[api_settings.JTI_CLAIM]
    outstanding = OutstandingToken.objects.using(TENANT_DB).filter(jti=jti).first()
    if outstanding is None:  # issued elsewhere than RefreshToken.for_user: record it first
        user = get_user_model().objects.using(TENANT_DB).filter(pk=user_id).first()
        outstanding, _ = OutstandingToken.objects.using(TENANT_DB).get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": str(token),
                "created_at": timezone.now(),
                "expires_at": datetime_from_epoch(token["exp"]),
            },
        )
    try:
        with transaction.atomic(using=TENANT_DB):
            BlacklistedToken.objects.using(TENANT_DB).create(token=outstanding)
    except IntegrityError:
        return False
    return True


def _family_revoke(family, *, reason: str) -> None:
    family.revoked_at = timezone.now()
    family.revoked_reason = reason
    family.save(update_fields=["revoked_at", "revoked_reason"])
    user_id = family.user_id
    # This process's cached answers for the user: now, and again after commit (a read in between may
    # have cached the state before it).
    identity_cache.forget("revocation", user_id)
    transaction.on_commit(lambda: identity_cache.forget("revocation", user_id), using=TENANT_DB)


def _reuse_detected(family, token, *, request, action: str) -> None:
    from breederhq.tenancy import write_authorization_audit

    _family_revoke(family, reason=REASON_REUSE)
    write_authorization_audit(
        user_id=family.user_id,
        resource_type="refresh_token_family",
        resource_id=family.id,
        action=action,
        allowed=False,
        request=request,
        reason=f"reuse of an already used refresh token (jti {token[api_settings.JTI_CLAIM]}): "
        "every token of this sign-in is revoked",
    )


def _verify(raw: str):
    from rest_framework_simplejwt.exceptions import TokenError

    try:
        token = _RefreshTokenUnchecked(raw)
    except TokenError as exc:
        raise _refused(exc.args[0]) from exc
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None or not str(user_id).isdigit():
        raise _refused()
    return token, int(user_id)


def refresh_rotate(*, raw: str, request=None):
    """A refresh token -> a new refresh token of the same family (claims recomputed), exactly once.

    Raises AuthenticationFailed for a bad, expired, used or revoked token; a used one also revokes its
    family (committed before the refusal)."""
    from breederhq.api.auth import token_pair_for

    token, user_id = _verify(raw)
    User = get_user_model()
    refused = None
    with transaction.atomic(using=TENANT_DB):
        family = _family_locked(_family_id(token), user_id)
        if family.revoked_at is not None:
            refused = "This sign-in has been revoked; sign in again."
        elif not _use_once(token, user_id):
            _reuse_detected(family, token, request=request, action="refresh")
            refused = "Token has already been used; this sign-in is revoked, sign in again."
        else:
            user = User.objects.using(TENANT_DB).filter(pk=user_id).first()
            if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
                refused = "No active account found for the given token."
            elif stamp_claim(user.tokens_valid_after) != token.get(REVOCATION_CLAIM, 0):
                refused = "Token has been revoked; sign in again."
            else:
                family.last_issued_at = timezone.now()
                family.save(update_fields=["last_issued_at"])
                return token_pair_for(user, family_id=family.id)
    raise _refused(refused)


def refresh_revoke(*, raw: str, request=None) -> None:
    """Sign out of one sign-in: the refresh token is used up and its family (with its access tokens)
    revoked. A token already used is a reuse, as on refresh."""
    token, user_id = _verify(raw)
    refused = None
    with transaction.atomic(using=TENANT_DB):
        family = _family_locked(_family_id(token), user_id)
        if _use_once(token, user_id):
            if family.revoked_at is None:
                _family_revoke(family, reason=REASON_SIGNED_OUT)
        else:
            if family.revoked_at is None:
                _reuse_detected(family, token, request=request, action="revoke")
            refused = "Token has already been used."
    if refused:
        raise _refused(refused)


def families_purge() -> int:
    """Drop the families whose newest refresh token has expired (nothing of them can be presented
    any more: an expired token is refused before its family is looked at). Returns how many."""
    RefreshTokenFamily = tenant_identity().refresh_family_model()

    cutoff = timezone.now() - api_settings.REFRESH_TOKEN_LIFETIME - timedelta(minutes=5)
    with transaction.atomic(using=TENANT_DB):
        deleted, _ = RefreshTokenFamily.objects.using(TENANT_DB).filter(last_issued_at__lt=cutoff).delete()
    return deleted


# --- Every authenticated request -----------------------------------------------------------------------


def _session_state(user_id: int, family: str | None):
    table = get_user_model()._meta.db_table
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute(
            f"SELECT u.is_active, u.tokens_valid_after, "
            f"(SELECT f.revoked_at IS NOT NULL FROM refresh_token_families f WHERE f.id = %s::uuid) "
            f'FROM "{table}" u WHERE u.id = %s',
            [family, user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return bool(row[0]), stamp_claim(row[1]), bool(row[2])


def session_check(token, *, cached: bool) -> None:
    """Refuse a token whose user is inactive or gone, whose stamp moved or whose family is revoked."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    family = token.get(FAMILY_CLAIM)
    try:
        user_id = int(user_id)
        family = str(uuid.UUID(str(family))) if family else None
    except (TypeError, ValueError):
        raise _refused() from None
    load = lambda: _session_state(user_id, family)  # noqa: E731
    state = (
        identity_cache.cached(("revocation", str(user_id), family), load, ttl=revocation_cache_seconds())
        if cached
        else load()
    )
    if state is None or not state[0]:
        raise AuthenticationFailed("No active account found for the given token.", code="user_inactive")
    active, stamp, family_revoked = state
    if stamp != token.get(REVOCATION_CLAIM, 0) or family_revoked:
        raise _refused("Token has been revoked; sign in again.")
