"""Domain errors: raised by services, turned into RFC 9457 problem+json by the API layer.

Each error carries the HTTP status a client should see and a stable `code` it can act on, so the
API never has to guess from an exception's text.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "domain_error"
    title = "The request cannot be carried out"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status = 400
    code = "validation_failed"
    title = "Invalid input"

    def __init__(self, detail: str, *, field_errors: dict[str, list[str]] | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.field_errors = field_errors or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Gone(NotFound):
    """It existed and is withdrawn for good (a deleted provider, an erased person's provider). A
    NotFound to callers that only care that it is not there."""

    status = 410
    code = "gone"
    title = "Gone"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class PayloadTooLarge(DomainError):
    """The request body (or an uploaded file in it) is over a limit; `max_bytes` names the limit."""

    status = 413
    code = "payload_too_large"
    title = "Request body too large"

    def __init__(self, detail: str, *, max_bytes: int, code: str | None = None):
        super().__init__(detail, code=code, extra={"max_bytes": max_bytes})


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class Unavailable(DomainError):
    """A service we depend on (Stripe) cannot be reached now: nothing was done; retry later."""

    status = 503
    code = "unavailable"
    title = "Temporarily unavailable"


class TimedOut(DomainError):
    """A read stopped by its time limit (a statement timeout): nothing was changed; the `detail`
    says what to change so that it fits (a narrower search), and `timeout_ms` names the limit."""

    status = 503
    code = "timed_out"
    title = "The request took too long"

    def __init__(self, detail: str, *, timeout_ms: int, code: str | None = None):
        super().__init__(detail, code=code, extra={"timeout_ms": timeout_ms})


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "State transition not allowed"

    def __init__(self, *, entity: str, current: str, target: str, allowed: list[str] | None = None):
        allowed = sorted(allowed or [])
        super().__init__(
            f"{entity} cannot go from '{current}' to '{target}'"
            + (f"; from '{current}' it may go to: {', '.join(allowed)}" if allowed else f"; '{current}' is final"),
            extra={"current_status": current, "requested_status": target, "allowed": allowed},
        )


class VersionConflict(Conflict):
    code = "version_conflict"
    title = "Stale version"

    def __init__(self, *, entity: str, expected: int, current: int):
        super().__init__(
            f"{entity} was changed by someone else: you sent version {expected}, the current version "
            f"is {current}. Reload it and apply your change again.",
            extra={"current_version": current},
        )


class ReferencedRowDeletion(Conflict):
    code = "referenced_row"
    title = "Row is referenced from the other database"
