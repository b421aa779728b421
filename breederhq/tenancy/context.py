"""Reading and setting the tenant context per transaction: a tenant's, a user's own rows, platform
rows, an owner's, the audited system read, and support staff's audited entry into a tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied
from breederhq.observability import context as log_context
from breederhq.tenancy.policies import (
    CURRENT_TENANT_SQL,
    PLATFORM_SETTING,
    SYSTEM_READ_SETTING,
    TENANT_SETTING,
    USER_SETTING,
    UnscopedTenantLookup,
)


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
