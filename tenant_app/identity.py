"""tenant_app's answers to the core's identity port (breederhq/identity.py), registered by
TenantAppConfig.ready(): a user's memberships and tenants, and the refresh-token family model. Moved
here from breederhq/tenancy/ and breederhq/api/auth.py so the core imports no domain app
(docs/architecture/layers.md)."""

from __future__ import annotations

import functools

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction

from breederhq.databases import TENANT_DB
from breederhq.tenancy import USER_SETTING
from tenant_app.models import RefreshTokenFamily, Tenant, TenantMembership


def user_memberships(user_id: int, *, using: str = TENANT_DB) -> list:
    """A user's own memberships in tenants that are not deleted, by tenant id, each with its `tenant`
    loaded. Readable before any tenant is chosen only while `app.current_user_id` names the user
    (the memberships policy allows that; see set_connection_context).

    Every tenant request runs this, so it is a written-out statement: compiling the ORM query (a
    join and select_related) cost about twice its round trip (measured with bench/). The instances are
    the ORM's own (`Model.from_db`), equal to what
    `TenantMembership.objects.filter(user_id=..., tenant__deleted_at__isnull=True).select_related("tenant")`
    returns (tests/tenant_app/test_requests.py)."""
    sql, membership_names, tenant_names = _memberships_statement()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [user_id])
        rows = cursor.fetchall()
    split = len(membership_names)
    memberships = []
    for row in rows:
        membership = TenantMembership.from_db(using, membership_names, row[:split])
        membership.tenant = Tenant.from_db(using, tenant_names, row[split:])
        memberships.append(membership)
    return memberships


@functools.cache
def _memberships_statement() -> tuple[str, list[str], list[str]]:
    """(SQL, the membership's field attnames, the tenant's) for `user_memberships`; every concrete
    column of both, so the instances are complete, as select_related would load them."""
    membership_fields, tenant_fields = TenantMembership._meta.concrete_fields, Tenant._meta.concrete_fields
    # The rows go to from_db as the cursor returns them, without the fields' database converters:
    # a field that needs one (a JSONField, a custom type) must be read through the ORM instead.
    converted = [
        f"{f.model.__name__}.{f.name}" for f in (*membership_fields, *tenant_fields) if hasattr(f, "from_db_value")
    ]
    if converted:
        raise ImproperlyConfigured(f"user_memberships reads raw rows; these fields need converting: {converted}")
    columns = [f'm."{f.column}"' for f in membership_fields] + [f't."{f.column}"' for f in tenant_fields]
    sql = (
        f'SELECT {", ".join(columns)} FROM "{TenantMembership._meta.db_table}" m'
        f' JOIN "{Tenant._meta.db_table}" t ON t."{Tenant._meta.pk.column}" = m."{TenantMembership._meta.get_field("tenant").column}"'
        f' WHERE m."{TenantMembership._meta.get_field("user").column}" = %s AND t."{Tenant._meta.get_field("deleted_at").column}" IS NULL'
        f' ORDER BY m."{TenantMembership._meta.get_field("tenant").column}"'
    )
    return sql, [f.attname for f in membership_fields], [f.attname for f in tenant_fields]


def tenant_ids(user_id: int) -> list[int]:
    """The ids of the tenants (not deleted) the user is a member of, for a token's claims: one query.
    Memberships are tenant rows under RLS; the policy admits a user's own rows while
    app.current_user_id names them. Transaction-local, so nothing outlives this block."""
    with transaction.atomic(using=TENANT_DB):
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [USER_SETTING, str(user_id)])
        tenants = sorted(
            TenantMembership.objects.using(TENANT_DB)
            .filter(user_id=user_id, tenant__deleted_at__isnull=True)
            .values_list("tenant_id", flat=True)
        )
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute("SELECT set_config(%s, '', true)", [USER_SETTING])
    return tenants


class TenantAppIdentity:
    user_memberships = staticmethod(user_memberships)
    tenant_ids = staticmethod(tenant_ids)

    @staticmethod
    def refresh_family_model():
        return RefreshTokenFamily
