"""The settings the row-level security policies compare, which tables are tenant-owned, and the
migration helpers that create the policies."""

from __future__ import annotations

from django.apps import apps
from django.db import migrations, models

from breederhq.databases import TENANT_DB

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
