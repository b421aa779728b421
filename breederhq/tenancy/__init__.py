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

The code lives in modules by concern: `policies` (the settings, the tenant-owned tables, the
migration helpers), `context` (the per-transaction contexts and support staff's entry) and
`request_context` (one request's context and its middleware); every public name is re-exported
here, so `from breederhq.tenancy import tenant_context` and the migrations' imports keep working.
"""

from breederhq.tenancy.context import (
    current_tenant_id,
    own_rows_context,
    owner_context,
    platform_context,
    require_tenant_id,
    support_tenant_access,
    system_read_context,
    tenant_context,
)
from breederhq.tenancy.policies import (
    CURRENT_TENANT_SQL,
    CURRENT_USER_SQL,
    PLATFORM_SETTING,
    PLATFORM_SQL,
    POLICY_NAME,
    SYSTEM_READ_POLICY_NAME,
    SYSTEM_READ_SETTING,
    SYSTEM_READ_SQL,
    TENANT_COLUMNS,
    TENANT_MATCH_SQL,
    TENANT_SETTING,
    USER_SETTING,
    UnscopedTenantLookup,
    enable_system_read,
    enable_tenant_rls,
    is_tenant_owned,
    same_tenant_foreign_key,
    tenant_column,
    tenant_match_sql,
    tenant_owned_models,
    tenant_policy_sql,
)
from breederhq.tenancy.request_context import (
    TENANT_HEADER,
    TENANT_HEADER_ERROR,
    TENANT_HEADER_PATTERN,
    TenantContextMiddleware,
    activate_request_tenant,
    reset_connection_context,
    set_connection_context,
    tenant_header_error,
    user_memberships,
    write_authorization_audit,
)
