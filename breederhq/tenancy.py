"""Tenant context and row-level security (docs/architecture/tenancy-and-rls.md).

Every tenant-owned table carries `tenant_id` (or, for the payment tables that also hold platform
rows, `owner_tenant_id`) and a FORCED RLS policy comparing it with the PostgreSQL setting
`app.current_tenant_id`. Nothing in Python filters for safety's sake alone: the
database refuses to show or accept another tenant's rows, and with no context it shows none.

Two ways to set the context, both of which end with the unit of work:

* `tenant_context(tenant_id)` — **per transaction**. Opens `atomic(using=...)` and runs
  `SELECT set_config('app.current_tenant_id', %s, true)`; the value dies with the transaction. When
  nested inside an outer transaction (a request-level context, pytest-django's per-test
  transaction), the previous value is put back on exit; on an exception the savepoint rollback
  restores it. Services, Celery tasks and tests use this.
* `TenantContextMiddleware` — **per connection checkout** for one HTTP request: a session-level
  setting made after authentication, reset in `finally` (and the connection closed when the reset
  cannot run), so it never reaches the next request on a persistent connection.

`app.current_user_id` is a second setting that only lets a user see their own memberships: it is
what makes the membership lookup at authentication time possible before any tenant is chosen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.db import connections, migrations, models, transaction
from django.http import JsonResponse

from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied
from breederhq.observability import context as log_context

logger = logging.getLogger(__name__)

TENANT_SETTING = "app.current_tenant_id"
USER_SETTING = "app.current_user_id"

# The setting sits in a sub-select so PostgreSQL evaluates it once per query, not once per row
# (about twice as fast on large scans). `nullif(..., '')` because after a transaction that used
# set_config(..., true) the setting reads '' rather than NULL, and ''::bigint would raise.
CURRENT_TENANT_SQL = f"(SELECT nullif(current_setting('{TENANT_SETTING}', true), '')::bigint)"
CURRENT_USER_SQL = f"(SELECT nullif(current_setting('{USER_SETTING}', true), '')::bigint)"
TENANT_MATCH_SQL = f"tenant_id = {CURRENT_TENANT_SQL}"
POLICY_NAME = "tenant_isolation"
# Scheduled jobs that must *read* across tenants (crossdb_check) say so with this setting, inside
# `system_read_context`. It opens a second, SELECT-only policy: writes still need the tenant match.
SYSTEM_READ_SETTING = "app.system_read"
SYSTEM_READ_POLICY_NAME = "system_read"
SYSTEM_READ_SQL = f"(SELECT nullif(current_setting('{SYSTEM_READ_SETTING}', true), '')) IS NOT NULL"
# Rows of a table keyed by `owner_tenant_id` that belong to no tenant (a marketplace invoice's
# payment, a service provider's Stripe account) are reachable only inside `platform_context`, never
# from a tenant's context nor with no context at all.
PLATFORM_SETTING = "app.platform_rows"
PLATFORM_SQL = f"(SELECT nullif(current_setting('{PLATFORM_SETTING}', true), '')) IS NOT NULL"
#: The columns that name a row's tenant, in the order looked for.
TENANT_COLUMNS = ("tenant_id", "owner_tenant_id")


def tenant_match_sql(column: str = "tenant_id") -> str:
    return f'"{column}" = {CURRENT_TENANT_SQL}' if column != "tenant_id" else TENANT_MATCH_SQL


class UnscopedTenantLookup(RuntimeError):
    """A lookup that must name the tenant did not (a programming error, never a user error)."""


# --- Which tables are tenant-owned -----------------------------------------------------------------


def tenant_column(model: type[models.Model]) -> str | None:
    """The column naming the row's tenant (`tenant_id`, or `owner_tenant_id`), or None."""
    columns = {f.column for f in model._meta.concrete_fields}
    return next((c for c in TENANT_COLUMNS if c in columns), None)


def is_tenant_owned(model: type[models.Model]) -> bool:
    return tenant_column(model) is not None and not model._meta.proxy


def tenant_owned_models() -> list[type[models.Model]]:
    """Every tenant-database model with a tenant_id or owner_tenant_id column: each one must have
    the RLS policy.

    (A marketplace provider's `tenant_id` is a cross-database reference, not tenant-owned data.)
    """
    from breederhq.routing import database_for_model

    return sorted(
        (
            m
            for m in apps.get_models()
            if is_tenant_owned(m) and m._meta.managed and not m._meta.proxy and database_for_model(m) == TENANT_DB
        ),
        key=lambda m: m._meta.db_table,
    )


# --- Migrations ------------------------------------------------------------------------------------


def tenant_policy_sql(
    *, column: str = "tenant_id", extra_using: str | None = None, platform_rows: bool = False
) -> tuple[str, str]:
    """(USING, WITH CHECK) of the tenant isolation policy on a table keyed by `column`."""
    check = tenant_match_sql(column)
    if platform_rows:
        check = f'({check}) OR ("{column}" IS NULL AND {PLATFORM_SQL})'
    using = check if extra_using is None else f"({check}) OR ({extra_using})"
    return using, check


def enable_tenant_rls(
    table: str, *, column: str = "tenant_id", extra_using: str | None = None, platform_rows: bool = False
) -> migrations.RunSQL:
    """A migration operation: RLS enabled and FORCED on `table`, one policy with USING and CHECK.

    FORCED because the owner role (which runs migrations) would otherwise bypass it. `column` names
    the row's tenant (`tenant_id`, `owner_tenant_id`). `extra_using` widens what may be *read*
    (never what may be written), e.g. a user's own memberships. `platform_rows`: rows whose
    `column` is NULL belong to the platform and are read and written only in `platform_context`.
    """
    using, check = tenant_policy_sql(column=column, extra_using=extra_using, platform_rows=platform_rows)
    return migrations.RunSQL(
        sql=[
            f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
            f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
            f'CREATE POLICY {POLICY_NAME} ON "{table}" FOR ALL USING ({using}) WITH CHECK ({check})',
        ],
        reverse_sql=[
            f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"',
            f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
            f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
        ],
    )


def enable_system_read(table: str) -> migrations.RunSQL:
    """A migration operation: a SELECT-only policy that lets a `system_read_context` read `table`
    across tenants. Permissive policies combine with OR for reads only; UPDATE, DELETE and INSERT
    still pass through `tenant_isolation` alone."""
    return migrations.RunSQL(
        sql=f'CREATE POLICY {SYSTEM_READ_POLICY_NAME} ON "{table}" FOR SELECT USING ({SYSTEM_READ_SQL})',
        reverse_sql=f'DROP POLICY IF EXISTS {SYSTEM_READ_POLICY_NAME} ON "{table}"',
    )


def same_tenant_foreign_key(table: str, column: str, parent_table: str) -> migrations.RunSQL:
    """A composite FK (column, tenant_id) -> parent (id, tenant_id).

    Foreign-key checks bypass RLS, so a plain FK would accept a child row of tenant A pointing at a
    parent of tenant B whose id someone guessed. The parent needs UNIQUE (id, tenant_id).
    """
    name = f"{table}_{column}_same_tenant"
    return migrations.RunSQL(
        sql=(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}", tenant_id) '
            f'REFERENCES "{parent_table}" (id, tenant_id) DEFERRABLE INITIALLY DEFERRED'
        ),
        reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"',
    )


# --- Reading and setting the context ---------------------------------------------------------------


def current_tenant_id(*, using: str = TENANT_DB) -> int | None:
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {CURRENT_TENANT_SQL}")
        return cursor.fetchone()[0]


def require_tenant_id(*, using: str = TENANT_DB) -> int:
    """The tenant of the current context; services call this instead of taking a tenant argument,
    so the tenant always comes from the authenticated membership or the task, never the caller."""
    tenant_id = current_tenant_id(using=using)
    if tenant_id is None:
        raise UnscopedTenantLookup(
            "No tenant context: wrap the call in breederhq.tenancy.tenant_context(...) or run it in "
            "a request that TenantContextMiddleware resolved to a tenant."
        )
    return tenant_id


def _set_local(cursor, name: str, value: str) -> None:
    cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


@contextmanager
def tenant_context(tenant_id: int, *, using: str = TENANT_DB) -> Iterator[int]:
    """Run the block in one transaction whose RLS context is `tenant_id`.

    The setting is transaction-local, so it cannot outlive the block on a reused connection. When
    the block is nested in an outer transaction, the outer value is restored on the way out.
    """
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, int) or tenant_id <= 0:
        raise ValueError(f"tenant_context needs a positive integer tenant id, got {tenant_id!r}")
    nested = connections[using].in_atomic_block
    log_token = log_context.tenant_id.set(str(tenant_id))  # log lines of the block name the tenant
    try:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                previous = None
                if nested:
                    cursor.execute("SELECT current_setting(%s, true)", [TENANT_SETTING])
                    previous = cursor.fetchone()[0]
                _set_local(cursor, TENANT_SETTING, str(tenant_id))
            yield tenant_id
            # Only reached on success; on an exception the savepoint rollback undoes set_config itself.
            if nested:
                with connections[using].cursor() as cursor:
                    _set_local(cursor, TENANT_SETTING, previous or "")
    finally:
        log_context.tenant_id.reset(log_token)


@contextmanager
def own_rows_context(user_id: int, *, using: str = TENANT_DB) -> Iterator[int]:
    """Run the block in one transaction where `app.current_user_id` names the user (transaction-local),
    and no tenant: only what the policies give a user as such is visible, e.g. their own memberships,
    the invitations sent to their email. No audit: nobody reads anyone else's rows here."""
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise ValueError(f"own_rows_context needs a positive integer user id, got {user_id!r}")
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            _set_local(cursor, USER_SETTING, str(user_id))
        yield user_id


@contextmanager
def platform_context(*, using: str = TENANT_DB) -> Iterator[None]:
    """Run the block in one transaction that may read and write the platform's own rows of a table
    keyed by `owner_tenant_id` (rows whose owner is NULL: a marketplace invoice's payment, a
    service provider's Stripe account). It reaches no tenant's rows: those still need
    `tenant_context`. Transaction-local like `tenant_context`; the outer value comes back on exit."""
    nested = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            previous = None
            if nested:
                cursor.execute("SELECT current_setting(%s, true)", [PLATFORM_SETTING])
                previous = cursor.fetchone()[0]
            _set_local(cursor, PLATFORM_SETTING, "on")
        yield
        if nested:
            with connections[using].cursor() as cursor:
                _set_local(cursor, PLATFORM_SETTING, previous or "")


@contextmanager
def owner_context(tenant_id: int | None, *, using: str = TENANT_DB) -> Iterator[None]:
    """The context that reaches a row keyed by `owner_tenant_id`: its tenant's, or the platform's
    when the owner is NULL."""
    if tenant_id is None:
        with platform_context(using=using):
            yield
    else:
        with tenant_context(tenant_id, using=using):
            yield


@contextmanager
def system_read_context(
    *, job: str, using: str = TENANT_DB, user_id: int | None = None, reason: str | None = None
) -> Iterator[None]:
    """Let a scheduled job — or a staff member's back-office page — read every tenant's rows for the
    block (one transaction), audited.

    Reads only: the extra policy is FOR SELECT, so a write in the block still needs a tenant context
    and the matching tenant. Each use writes a `cross_tenant_query_audit` row first (target 0 = all)
    naming who asked: `user_id` is the staff user when one triggered the read (dashboard, personal
    data export), None for scheduled jobs and the outbox relay; `reason` overrides the default text
    (an account finding the invitation its token names, for instance).
    """
    from breederhq.models import CrossTenantQueryAudit

    with transaction.atomic(using=using):
        CrossTenantQueryAudit.objects.using(using).create(
            user_id=user_id,
            target_tenant_id=0,
            query_type=f"system:{job}"[:100],
            allowed=True,
            reason=reason
            or ("read-only scan by a scheduled job" if user_id is None else "read-only scan asked by staff"),
        )
    nested = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            previous = None
            if nested:
                cursor.execute("SELECT current_setting(%s, true)", [SYSTEM_READ_SETTING])
                previous = cursor.fetchone()[0]
            _set_local(cursor, SYSTEM_READ_SETTING, job)
        yield
        with connections[using].cursor() as cursor:
            _set_local(cursor, SYSTEM_READ_SETTING, previous or "")


# --- Per-request context (connection checkout) -----------------------------------------------------


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


# --- Support staff: the one audited way across tenants ---------------------------------------------


@contextmanager
def support_tenant_access(
    *, staff_user, tenant_id: int, reason: str, query_type: str, source_tenant_id: int | None = None
) -> Iterator[int]:
    """Enter another tenant's context as support staff. Every attempt, allowed or not, writes
    `cross_tenant_query_audit` first (its own transaction when called at top level)."""
    from breederhq.models import CrossTenantQueryAudit

    allowed = bool(staff_user is not None and staff_user.is_active and staff_user.is_staff and reason.strip())
    with transaction.atomic(using=TENANT_DB):
        CrossTenantQueryAudit.objects.using(TENANT_DB).create(
            user_id=getattr(staff_user, "pk", None),
            source_tenant_id=source_tenant_id,
            target_tenant_id=tenant_id,
            query_type=query_type,
            allowed=allowed,
            reason=reason,
        )
    if not allowed:
        raise PermissionDenied(
            "Cross-tenant access needs an active staff user and a stated reason.",
            code="cross_tenant_denied",
        )
    with tenant_context(tenant_id, using=TENANT_DB) as scoped:
        yield scoped
