"""What the core needs to know about a staff member's session: is this a staff account, and has this
session passed the second factor. The back office's second factor (breederhq/backoffice/second_factor.py)
builds on these; the core's request plumbing (breederhq/tenancy/request_context.py) asks them without importing the
back office (docs/architecture/layers.md)."""

from __future__ import annotations


def is_staff_account(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and (user.is_staff or user.is_superuser))


def session_is_verified(user) -> bool:
    """This request's user passed the second factor in this session (OTPMiddleware's verdict)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())
