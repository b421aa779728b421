"""Support staff working on one tenant from the back office (docs/operations/back-office.md#working-on-a-tenant).

Tenant tables force row-level security, so the admin sees no tenant rows by itself. A staff member
first chooses a tenant and states why ("work on tenant X"); that choice is kept in their session
for `SUPPORT_SESSION_TTL`, shown in a banner on every admin page, and every tenant admin request
then runs inside `breederhq.tenancy.support_tenant_access`, which writes one
`cross_tenant_query_audit` row per request (who, which tenant, which page, why) before any row is
read. Nothing is remembered on the database connection: the context is transaction-local.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from breederhq.tenancy import support_tenant_access

SESSION_KEY = "backoffice_support_tenant"
SUPPORT_SESSION_TTL = timedelta(hours=2)


@dataclass(frozen=True)
class SupportSession:
    tenant_id: int
    tenant_name: str
    reason: str
    expires_at: datetime


def support_session_start(*, request, tenant, reason: str) -> SupportSession:
    """Record the choice (audited: the first cross_tenant_query_audit row of the session)."""
    with support_tenant_access(
        staff_user=request.user, tenant_id=tenant.pk, reason=reason, query_type="admin:support_session_start"
    ):
        pass
    expires_at = timezone.now() + SUPPORT_SESSION_TTL
    request.session[SESSION_KEY] = {
        "tenant_id": tenant.pk,
        "tenant_name": tenant.name,
        "reason": reason,
        "expires_at": expires_at.isoformat(),
    }
    return SupportSession(tenant.pk, tenant.name, reason, expires_at)


def support_session_end(*, request) -> None:
    request.session.pop(SESSION_KEY, None)


def support_session_get(request) -> SupportSession | None:
    """The live support session of this request, or None (an expired one is dropped)."""
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    if not data:
        return None
    expires_at = datetime.fromisoformat(data["expires_at"])
    if expires_at <= timezone.now() or not request.user.is_authenticated or not request.user.is_staff:
        session.pop(SESSION_KEY, None)
        return None
    return SupportSession(int(data["tenant_id"]), data["tenant_name"], data["reason"], expires_at)


@contextmanager
def support_request_context(request, *, page: str):
    """The audited tenant context for one admin request (one transaction)."""
    support = support_session_get(request)
    if support is None:
        raise LookupError("no support session")
    with support_tenant_access(
        staff_user=request.user, tenant_id=support.tenant_id, reason=support.reason, query_type=f"admin:{page}"[:100]
    ):
        yield support
