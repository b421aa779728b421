"""The tenant context of one HTTP request: set on the connection after authentication, reset at the
end (TenantContextMiddleware), the X-Tenant-ID header, and the authorization audit of a refusal."""

from __future__ import annotations

import logging
import re

from django.db import connections, transaction
from django.http import JsonResponse

from breederhq.databases import TENANT_DB
from breederhq.observability import context as log_context
from breederhq.tenancy.policies import TENANT_SETTING, USER_SETTING

# The name the module had before the split, so log configuration and filters keep matching.
logger = logging.getLogger("breederhq.tenancy")


def set_connection_context(*, tenant_id: int | None, user_id: int | None, using: str = TENANT_DB) -> None:
    """Session-level settings for one request; `reset_connection_context` must follow in `finally`."""
    if tenant_id is not None:  # the request's log lines (cleared when it finishes) and the tasks it publishes
        log_context.tenant_id.set(str(tenant_id))
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
            [
                TENANT_SETTING,
                "" if tenant_id is None else str(tenant_id),
                USER_SETTING,
                "" if user_id is None else str(user_id),
            ],
        )


def reset_connection_context(*, using: str = TENANT_DB) -> None:
    """Clear both settings; if that fails the connection is closed, so nothing can leak through it."""
    connection = connections[using]
    # Not only when our helpers set something: after any request whose statements could have set
    # a session setting (TenantContextMiddleware), a stray session-level set_config must not reach
    # the next request either.
    if connection.connection is None:
        return  # the connection is gone, and its session settings with it
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config(%s, '', false), set_config(%s, '', false)", [TENANT_SETTING, USER_SETTING]
            )
    except Exception:
        logger.warning("could not reset the tenant context; closing the connection", exc_info=True)
        connection.close()


def user_memberships(user_id: int, *, using: str = TENANT_DB) -> list:
    """A user's own memberships in tenants that are not deleted, by tenant id, each with its `tenant`
    loaded (tenant_app/identity.py answers, through the identity port breederhq/identity.py). Readable
    before any tenant is chosen only while `app.current_user_id` names the user (the memberships
    policy allows that; see set_connection_context)."""
    from breederhq.identity import tenant_identity

    return tenant_identity().user_memberships(user_id, using=using)


def write_authorization_audit(
    *,
    user_id,
    resource_type: str,
    resource_id,
    action: str,
    allowed: bool,
    reason: str,
    request=None,
    using: str = TENANT_DB,
) -> None:
    from breederhq.models import AuthorizationAudit

    meta = getattr(request, "META", {}) if request is not None else {}
    with transaction.atomic(using=using):
        AuthorizationAudit.objects.using(using).create(
            user_id=user_id,
            resource_type=resource_type,
            # The column holds 100 characters, and a resource id may come straight from a request
            # (a header, a path): cut to fit, NUL (refused by PostgreSQL text) and lone surrogates
            # (not UTF-8) dropped, so an audit of a refusal never becomes a 500 itself.
            resource_id=_printable("" if resource_id is None else str(resource_id))[:100],
            action=action,
            allowed=allowed,
            reason=reason,
            ip_address=meta.get("REMOTE_ADDR") or None,
            user_agent=meta.get("HTTP_USER_AGENT", "")[:500],
        )


def _printable(text: str) -> str:
    return text.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")


TENANT_HEADER = "HTTP_X_TENANT_ID"
#: What X-Tenant-ID may be: a tenant id, digits only, within PostgreSQL's BIGINT; an empty header is
#: no header (the OpenAPI schema declares this pattern on every tenant endpoint).
TENANT_HEADER_PATTERN = r"^([0-9]{1,19})?$"
_TENANT_HEADER_RE = re.compile(r"[0-9]{1,19}")
_BIGINT_MAX = 2**63 - 1
TENANT_HEADER_ERROR = "must be a tenant id: digits only, at most 19, within a 64-bit signed integer"


def tenant_header_error(value: str) -> JsonResponse | None:
    """The 400 problem for an X-Tenant-ID that cannot name a tenant (not digits, too long, beyond
    BIGINT), else None. Checked before anything is looked up or audited."""
    if _TENANT_HEADER_RE.fullmatch(value) and int(value) <= _BIGINT_MAX:
        return None
    return JsonResponse(
        {
            "type": "about:blank",
            "title": "Invalid input",
            "status": 400,
            "detail": f"X-Tenant-ID {TENANT_HEADER_ERROR}.",
            "code": "validation_failed",
            "errors": {"X-Tenant-ID": [TENANT_HEADER_ERROR]},
        },
        status=400,
        content_type="application/problem+json",
    )


def activate_request_tenant(request, user, *, token_tenants: list[int] | None = None):
    """Resolve the tenant for an authenticated request and set it on the connection.

    Returns a 403 response (or a 400 for an X-Tenant-ID that is no tenant id) to send instead of
    running the view, or None. The tenant is the one
    named by the `X-Tenant-ID` header (or `tenant_id` in the session), or the user's only
    membership. With several memberships and none named, a bearer token whose `tenants` claim names
    exactly one of them (`token_tenants`: it was issued before the user joined the others) keeps
    acting in that one, so joining another tenant never breaks a client that did not ask for it;
    once refreshed, the token names them all and a request must choose. Naming a tenant the user
    does not belong to is a 403 with an `authorization_audit` row; anything unresolved means no context, hence zero rows. Whatever it sets is cleared by
    TenantContextMiddleware at the end of the request, so an authentication that happens later
    (DRF tokens) may call this too.
    """
    request.tenant_id = None
    request.tenant_membership = None
    requested = request.META.get(TENANT_HEADER) or (
        request.session.get("tenant_id") if hasattr(request, "session") else None
    )
    header = request.META.get(TENANT_HEADER)
    if header not in (None, "") and (invalid := tenant_header_error(header)) is not None:
        return invalid
    set_connection_context(tenant_id=None, user_id=user.pk)
    memberships = user_memberships(user.pk)
    if requested not in (None, ""):
        try:
            requested_id = int(requested)
        except (TypeError, ValueError):
            requested_id = None
        membership = next((m for m in memberships if m.tenant_id == requested_id), None)
        if membership is None:
            write_authorization_audit(
                user_id=user.pk,
                resource_type="tenant",
                resource_id=requested,
                action="access",
                allowed=False,
                reason="no membership in the requested tenant",
                request=request,
            )
            return JsonResponse(
                {
                    "type": "about:blank",
                    "title": "Permission denied",
                    "status": 403,
                    "detail": "You are not a member of that tenant.",
                    "code": "permission_denied",
                },
                status=403,
                content_type="application/problem+json",
            )
    elif len(memberships) == 1:
        membership = memberships[0]
    else:
        named = [m for m in memberships if m.tenant_id in (token_tenants or ())]
        # Several tenants and none chosen (nor one alone in the token): no context, zero rows.
        membership = named[0] if len(named) == 1 else None
    if membership is not None:
        request.tenant_id = membership.tenant_id
        request.tenant_membership = membership
        set_connection_context(tenant_id=membership.tenant_id, user_id=user.pk)
    return None


class TenantContextMiddleware:
    """Sets the tenant context for exactly one request and clears it afterwards, whatever happened.

    Put it after AuthenticationMiddleware and OTPMiddleware. Session-authenticated users are
    resolved here (not a staff session that has not passed the second factor); the
    `finally` also clears what a later authentication set through `activate_request_tenant`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant_id = None
        request.tenant_membership = None
        used = _ConnectionUse()
        try:
            with connections[TENANT_DB].execute_wrapper(used):
                user = getattr(request, "user", None)
                if user is not None and user.is_authenticated and not _unverified_staff(user):
                    denied = activate_request_tenant(request, user)
                    if denied is not None:
                        return denied
                return self.get_response(request)
        finally:
            # Only a statement that can change a session setting makes the reset necessary: any
            # `set_config` (ours set the context through it, and a stray session-level one anywhere
            # in the request is caught the same way) or a `SET`. A request that sent only plain
            # statements to the tenant database (the Stripe webhook's inbox insert), or nothing (a
            # marketplace read served from the identity cache), cannot have changed its session.
            if used.may_have_set_session:
                reset_connection_context(using=TENANT_DB)


def _unverified_staff(user) -> bool:
    """A staff account's session that has not passed the second factor: the API treats it as
    anonymous (breederhq.backoffice.api_auth; breederhq/staff.py) and the admin shows it only the second-factor pages, so
    no tenant is resolved for it (no membership read, no audit written on its behalf)."""
    from breederhq.staff import is_staff_account, session_is_verified

    return is_staff_account(user) and not session_is_verified(user)


class _ConnectionUse:
    """An execute wrapper that notes whether a statement through the connection could have changed
    a session setting (`set_config(...)` anywhere in it, or a `SET ...` / `RESET ...` statement)."""

    may_have_set_session = False

    def __call__(self, execute, sql, params, many, context):
        if not self.may_have_set_session and _MAY_SET_SESSION.search(sql):
            self.may_have_set_session = True
        return execute(sql, params, many, context)


_MAY_SET_SESSION = re.compile(r"set_config|^\s*(SET|RESET)\b", re.IGNORECASE)
