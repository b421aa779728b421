"""The staff second factor (django-otp): an authenticator app (TOTP) and single-use recovery codes.

Every staff member (superusers too) must pass it before any admin page opens
(breederhq.backoffice.site.BackofficeAdminSite). A staff member without a device enrols on first
sign-in: the page shows a secret (and its otpauth:// URI) for an authenticator app, the first code
from the app confirms it, and ten recovery codes are shown once. Each recovery code works once.

Writes are services (one transaction on the tenant database, where users and devices live); each
locks the staff member's user row first, so two tabs cannot enrol or regenerate at once. Wrong codes
count against the device (django-otp's throttling: after n wrong codes in a row it refuses every
code for 2**(n-1) seconds); a refused code's count is kept (the failure is recorded before the
error leaves the transaction). Enrolment, recovery-code use, regeneration and device removal each
write a StaffActionAudit row. See docs/operations/staff-2fa.md.
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django_otp import devices_for_user
from django_otp.models import VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from breederhq.backoffice.actions import staff_action_record
from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict, DomainError, PermissionDenied
from breederhq.staff import is_staff_account, session_is_verified  # noqa: F401  (sf.is_staff_account, ...)

DB = TENANT_DB
RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "authenticator app"
RECOVERY_DEVICE_NAME = "recovery codes"
#: Audit actions (StaffActionAudit.action).
ENROLLED = "second_factor_enrolled"
RECOVERY_CODE_USED = "second_factor_recovery_code_used"
RECOVERY_CODES_REGENERATED = "second_factor_recovery_codes_regenerated"
RESET = "reset_second_factor"


class WrongCode(DomainError):
    status = 400
    code = "second_factor_wrong_code"
    title = "Wrong code"


class Throttled(DomainError):
    status = 429
    code = "second_factor_throttled"
    title = "Too many wrong codes"

    def __init__(self, *, failures: int, locked_until: datetime):
        super().__init__(
            f"{failures} wrong code{'s' if failures != 1 else ''} in a row: codes are refused until "
            f"{locked_until:%H:%M:%S} UTC. Wait until then and try again.",
            extra={"locked_until": locked_until.isoformat()},
        )
        self.failures, self.locked_until = failures, locked_until


# --- Reads ----------------------------------------------------------------------------------------


def is_enrolled(user) -> bool:
    """The staff member has a confirmed authenticator app."""
    return TOTPDevice.objects.using(DB).filter(user_id=user.pk, confirmed=True).exists()


def has_any_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def recovery_codes_left(user) -> int:
    return StaticToken.objects.using(DB).filter(device__user_id=user.pk, device__confirmed=True).count()


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in (groups of four)."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalize_code(raw: str) -> str:
    return "".join((raw or "").split()).replace("-", "").lower()


def looks_like_totp(code: str) -> bool:
    """Six digits: an authenticator app's code. Anything else is taken as a recovery code."""
    return len(code) == 6 and code.isdigit()


# --- Writes ---------------------------------------------------------------------------------------


def _lock_user(user):
    from tenant_app.models import User

    return User.objects.using(DB).select_for_update().get(pk=user.pk)


def _check(device, code: str):
    """Verify `code` on `device` (locked). Returns None on success, else the error to raise
    *after* the transaction commits (so the wrong code's count is kept)."""
    allowed, extra = device.verify_is_allowed()
    if not allowed:
        if extra and extra.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
            return Throttled(failures=extra["failure_count"], locked_until=extra["locked_until"])
        return WrongCode("Codes are refused for this device right now.")
    if device.verify_token(code):
        return None
    return WrongCode("That code is not right. Check the code (and your phone's clock) and try again.")


def _new_recovery_codes(device: StaticDevice) -> list[str]:
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.using(DB).bulk_create(StaticToken(device=device, token=code) for code in codes)
    device.throttle_reset(commit=False)
    device.save(using=DB)
    return codes


def enrolment_device(*, user, device_id: int | None = None, create: bool = True) -> TOTPDevice | None:
    """The pending (unconfirmed) authenticator device of this enrolment attempt. `device_id` is the
    one this browser session was shown (kept in the session by the enrolment page): while it is still
    pending the same secret is shown again. Otherwise a fresh secret is made and every other pending
    device of the staff member is deleted, so a secret shown to one session (someone who had only the
    password, say) stops working the moment another session starts enrolling; and only the device
    a session was shown can be confirmed from that session (enrolment_confirm). With create=False
    (a refused confirmation being shown again) nothing is made or deleted: None if it is gone."""
    with transaction.atomic(using=DB):
        _lock_user(user)
        if has_any_device(user):
            raise Conflict("You already have a second factor; sign in with it.", code="second_factor_enrolled")
        pending = TOTPDevice.objects.using(DB).filter(user_id=user.pk, confirmed=False)
        device = pending.filter(pk=device_id).first() if device_id is not None else None
        if device is None:
            if not create:
                return None
            pending.delete()
            device = TOTPDevice.objects.using(DB).create(user_id=user.pk, name=TOTP_DEVICE_NAME, confirmed=False)
    device.user = user
    return device


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


def enrolment_confirm(*, user, code: str, device_id: int | None) -> Enrolment:
    """The first code from the app confirms the pending device this session was shown (`device_id`,
    see enrolment_device); recovery codes are made (returned once, never shown again). Audited."""
    code = normalize_code(code)
    with transaction.atomic(using=DB):
        _lock_user(user)
        if has_any_device(user):
            raise Conflict("You already have a second factor; sign in with it.", code="second_factor_enrolled")
        device = (
            TOTPDevice.objects.using(DB)
            .select_for_update()
            .filter(user_id=user.pk, confirmed=False, pk=device_id)
            .first()
            if device_id is not None
            else None
        )
        if device is None:
            raise Conflict(
                "Open the enrolment page first: it shows the secret to add to your app (a secret "
                "shown in another window or browser no longer counts).",
                code="second_factor_no_pending_device",
            )
        error = _check(device, code)
        if error is None:
            device.confirmed = True
            device.save(using=DB)
            TOTPDevice.objects.using(DB).filter(user_id=user.pk, confirmed=False).delete()
            recovery, _ = StaticDevice.objects.using(DB).get_or_create(
                user_id=user.pk, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
            )
            codes = _new_recovery_codes(recovery)
            staff_action_record(
                user=user,
                action=ENROLLED,
                obj=user,
                reason="self-service: enrolled at sign-in",
                result=f"authenticator app confirmed, {len(codes)} recovery codes issued",
            )
    if error is not None:
        raise error
    device.user = user
    return Enrolment(device, codes)


def verify(*, user, code: str):
    """Check a code from the staff member's authenticator app (six digits) or one of their
    recovery codes (used up). Returns the device that accepted it. A used recovery code is audited."""
    code = normalize_code(code)
    model = TOTPDevice if looks_like_totp(code) else StaticDevice
    with transaction.atomic(using=DB):
        device = (
            model.objects.using(DB).select_for_update().filter(user_id=user.pk, confirmed=True).order_by("pk").first()
        )
        if device is None:
            kind = "an authenticator app" if model is TOTPDevice else "recovery codes"
            raise WrongCode(f"That code is not right: you have no {kind}.")
        error = _check(device, code)
        if error is None and model is StaticDevice:
            left = device.token_set.count()
            staff_action_record(
                user=user,
                action=RECOVERY_CODE_USED,
                obj=user,
                reason="self-service: signed in with a recovery code",
                result=f"{left} recovery code{'s' if left != 1 else ''} left",
            )
    if error is not None:
        raise error
    device.user = user
    return device


def recovery_codes_regenerate(*, user) -> list[str]:
    """New recovery codes for a verified staff member; the old ones stop working. Audited."""
    with transaction.atomic(using=DB):
        _lock_user(user)
        if not is_enrolled(user):
            raise Conflict("Enrol an authenticator app first.", code="second_factor_not_enrolled")
        device, _ = StaticDevice.objects.using(DB).get_or_create(
            user_id=user.pk, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
        )
        codes = _new_recovery_codes(device)
        staff_action_record(
            user=user,
            action=RECOVERY_CODES_REGENERATED,
            obj=user,
            reason="self-service: regenerated recovery codes",
            result=f"{len(codes)} new recovery codes, the old ones no longer work",
        )
    return codes


def second_factor_reset(*, target, actor) -> str:
    """Remove every device of another staff member (a lost phone): their next sign-in enrols anew,
    and a session verified with a removed device is verified no more; every session and API token of
    theirs ends (breederhq.api.sessions.user_sign_out_everywhere). Only a superuser resets a
    superuser's; nobody resets their own here. The caller audits (the admin action, with its reason).
    Returns what was removed."""
    if actor is not None and target.pk == actor.pk:
        raise PermissionDenied(
            "Ask another staff member to reset your own second factor.", code="second_factor_reset_self"
        )
    if actor is not None and target.is_superuser and not actor.is_superuser:
        raise PermissionDenied(
            "Only a superuser may reset a superuser's second factor.", code="second_factor_reset_superuser"
        )
    from breederhq.api.sessions import user_sign_out_everywhere

    with transaction.atomic(using=DB):
        _lock_user(target)
        # Signed out everywhere too: whoever held the lost device may hold a session or tokens as well.
        user_sign_out_everywhere(user_id=target.pk)
        totp, _ = TOTPDevice.objects.using(DB).filter(user_id=target.pk).delete()
        static = StaticDevice.objects.using(DB).filter(user_id=target.pk).count()
        StaticDevice.objects.using(DB).filter(user_id=target.pk).delete()
    return f"{totp} authenticator device(s) and {static} recovery code set(s) removed; signed out everywhere"
