"""RFC 9457 `application/problem+json` for every API error.

DRF's own errors (validation, authentication, permission, throttling, parse errors, 404, 405) and our
domain errors (breederhq.errors) all leave through `problem_exception_handler`, so a client always gets
`type`, `title`, `status`, `detail`, a stable `code`, and for invalid input the `errors` per field.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from breederhq.errors import DomainError, ValidationFailed

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://docs.breederhq.test/problems/"


def problem_response(*, status_code: int, code: str, title: str, detail: str, headers=None, **extra) -> Response:
    body = {
        "type": f"{PROBLEM_TYPE_BASE}{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _field_errors(data) -> dict[str, list[str]]:
    """DRF's nested error structure, flattened to `{"field.sub": ["message", ...]}`."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                # DRF reports list items as {index: errors}: name them like list positions.
                if isinstance(key, int):
                    walk(f"{prefix}[{key}]", inner)
                else:
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and not all(isinstance(v, (str, exceptions.ErrorDetail)) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}[{index}]", inner)
        else:
            messages = value if isinstance(value, list) else [value]
            flat.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", data)
    return flat


_DRF_CODES = {
    exceptions.ParseError: ("malformed_request", "Malformed request"),
    exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication required"),
    exceptions.PermissionDenied: ("permission_denied", "Permission denied"),
    exceptions.NotFound: ("not_found", "Not found"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    exceptions.Throttled: ("throttled", "Too many requests"),
}


def is_database_unavailable(error: BaseException) -> bool:
    """The database connection was lost under the request (the server ended the session, a restart
    or failover, the network): SQLSTATE classes 08 (connection exception) and 57 (operator
    intervention), or a client-side error with no SQLSTATE on a connection that is closed now."""
    from django.db import InterfaceError, OperationalError

    if not isinstance(error, (InterfaceError, OperationalError)):
        return False
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if sqlstate[:2] in {"08", "57"}:
        return not sqlstate.startswith("57014")  # 57014 is a cancelled statement: a timeout, mapped above
    if sqlstate:
        return False
    return isinstance(error, InterfaceError) or bool(getattr(getattr(cause, "pgconn", None), "status", 0))


def unique_violation(error: BaseException) -> str | None:
    """The constraint's name when `error` is PostgreSQL refusing a duplicate (SQLSTATE 23505)."""
    from django.db import IntegrityError

    cause = error.__cause__
    if not isinstance(error, IntegrityError) or getattr(cause, "sqlstate", None) != "23505":
        return None
    return getattr(getattr(cause, "diag", None), "constraint_name", None) or "unknown"


def problem_exception_handler(exc, context):
    from breederhq.db_timeouts import is_database_timeout

    if is_database_timeout(exc):
        # The database's own time limit (breederhq/db_timeouts.py) stopped the request's work; the
        # transaction it was in is rolled back. Retrying later may succeed.
        logger.warning("database time limit hit: %s", exc)
        return problem_response(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            code="database_timeout",
            title="Request took too long",
            detail="The database stopped this request at its time limit (its transaction was rolled back). Retry later.",
            headers={"Retry-After": "5"},
        )
    if is_database_unavailable(exc):
        # The connection died mid-request: the server rolled its transaction back, so nothing of this
        # request was kept. Django drops the broken connection; the next request opens a new one.
        logger.error("database connection lost during the request: %s", exc)
        return problem_response(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            code="database_unavailable",
            title="Database unavailable",
            detail="The connection to the database was lost; nothing of this request was saved. Retry shortly "
            "(with the same Idempotency-Key, if you sent one).",
            headers={"Retry-After": "2"},
        )
    if (constraint := unique_violation(exc)) is not None:
        # A write raced another (or met imported data) on a unique constraint: the transaction was
        # rolled back, so nothing of this request was kept, and the same request may succeed again.
        logger.warning("unique constraint %s refused a write: %s", constraint, exc)
        return problem_response(
            status_code=status.HTTP_409_CONFLICT,
            code="already_exists",
            title="Conflicts with an existing record",
            detail=f"Another record already has the value this request writes (unique constraint {constraint}); "
            "nothing was saved. Reload, then retry or change the value.",
            constraint=constraint,
        )
    if isinstance(exc, ValidationFailed):
        return problem_response(
            status_code=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            errors=exc.field_errors,
            **exc.extra,
        )
    if isinstance(exc, DomainError):
        return problem_response(status_code=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra)
    if isinstance(exc, RequestDataTooBig):
        # Django's own limit on the form fields of a body (DATA_UPLOAD_MAX_MEMORY_SIZE), hit while parsing.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return problem_response(
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            code="payload_too_large",
            title="Request body too large",
            detail=f"The form fields of this request are over {limit} bytes.",
            max_bytes=limit,
        )
    if isinstance(exc, SuspiciousOperation):
        # Too many fields or files, a malformed multipart body: the client's input, never a 500.
        return problem_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="malformed_request",
            title="Malformed request",
            detail=str(exc) or "The request body was refused.",
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        return problem_response(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="validation_failed",
            title="Invalid input",
            detail="; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()),
            errors=errors,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's 500 handling (and logging) applies
    code, title = next(
        ((c, t) for cls, (c, t) in _DRF_CODES.items() if isinstance(exc, cls)),
        (getattr(exc, "default_code", "error"), "Error"),
    )
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    extra = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after_seconds"] = int(exc.wait)
    return problem_response(
        status_code=response.status_code,
        code=code,
        title=title,
        detail=str(detail),
        headers={k: v for k, v in response.items() if k in {"Retry-After", "WWW-Authenticate", "Allow"}},
        **extra,
    )
