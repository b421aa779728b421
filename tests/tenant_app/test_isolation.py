"""Row-level security as the application role: one tenant never sees or writes another's rows, and
no context means no rows. The walk covers every table with a tenant_id or owner_tenant_id column, so
a new tenant table without a policy (or without a row in the seed) fails here, whatever its tenant
column is called."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import PermissionDenied
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import (
    TENANT_COLUMNS,
    UnscopedTenantLookup,
    current_tenant_id,
    support_tenant_access,
    tenant_column,
    tenant_context,
    tenant_owned_models,
)
from tenant_app.models import Contact, Invoice, TenantMembership
from tenant_app.selectors import contact_get_by_marketplace_user
from tests.factories.tenant import ContactFactory, TenantFactory, UserFactory
from tests.tenant_app.seed import seed_every_table, seed_platform_rows

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def tenant_ids_seen(table: str, column: str = "tenant_id") -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}", count(*) FROM "{table}" GROUP BY 1 ORDER BY 1')
        return [tenant_id for tenant_id, _count in cursor.fetchall()]


def row_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


@pytest.fixture
def two_tenants():
    a, b = TenantFactory(name="A Kennels"), TenantFactory(name="B Cattery")
    seed_platform_rows()
    return a, b, seed_every_table(a), seed_every_table(b)


def test_every_table_with_a_tenant_column_is_a_tenant_owned_model():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) WHERE c.table_schema = 'public' AND c.column_name = ANY(%s) "
            "AND t.table_type = 'BASE TABLE' ORDER BY 1",
            [list(TENANT_COLUMNS)],
        )
        tables = [name for (name,) in cursor.fetchall()]
    assert tables == sorted(m._meta.db_table for m in tenant_owned_models())
    assert set(tables) >= {
        "tenant_memberships",
        "contacts",
        "invoices",
        "invoice_line_items",
        "payments",
        "credit_notes",
        "invoice_audit_log",
        "payment_confirmation_audit",
        "tenant_document_sequences",
        "invoice_payments",
        "stripe_connect_accounts",
    }


#: SELECT-only policies that let a signed-in user read their own rows before choosing a tenant.
OWN_ROWS_POLICIES = {"tenant_invitations": ("addressee_read",)}


def test_every_tenant_table_has_forced_rls_with_using_and_check():
    with connection.cursor() as cursor:
        for model in tenant_owned_models():
            table = model._meta.db_table
            cursor.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table])
            assert cursor.fetchone() == (True, True), table
            cursor.execute(
                "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE tablename = %s ORDER BY policyname",
                [table],
            )
            policies = cursor.fetchall()
            # Read-only widenings for a user's own rows (no tenant chosen): never for writes.
            own = [p for p in policies if p[0] in OWN_ROWS_POLICIES.get(table, ())]
            for name, own_cmd, own_qual, own_check in own:
                assert (own_cmd, own_check) == ("SELECT", None), (table, name)
                assert "current_setting('app.current_user_id'::text, true)" in own_qual, (table, name)
            policies = [p for p in policies if p[0] not in OWN_ROWS_POLICIES.get(table, ())]
            assert [p[0] for p in policies] == ["system_read", "tenant_isolation"], table
            _name, system_cmd, system_qual, system_check = policies[0]
            assert (system_cmd, system_check) == ("SELECT", None), table
            assert "current_setting('app.system_read'::text, true)" in system_qual
            _name, cmd, qual, with_check = policies[1]
            assert cmd == "ALL"
            assert "current_setting('app.current_tenant_id'::text, true)" in qual
            column = tenant_column(model)
            match = f"({column} = ( SELECT (NULLIF(current_setting('app.current_tenant_id'::text, true), ''::text))::bigint AS \"nullif\"))"
            if column == "tenant_id":
                assert with_check == match, table
            else:  # rows with no owner belong to the platform: only in platform_context
                assert (
                    with_check.startswith(f"({match}")
                    and "current_setting('app.platform_rows'::text, true)" in with_check
                ), table


#: Tables keyed by owner_tenant_id whose unique columns are ids that Stripe issues, unique worldwide
#: (an account id, a payment intent id, a refund id) or one row per invoice / provider / tenant
#: (or per payment row and client key): a tenant cannot
#: collide with another's row by choosing a value.
GLOBALLY_UNIQUE_IDS = {
    "invoice_payments",
    "stripe_connect_accounts",
    "invoice_refund_requests",
    "stripe_connect_money_movements",
    "invoice_disputes",
    "invoice_dispute_evidence_files",
}


def test_every_unique_constraint_on_a_tenant_table_includes_tenant_id():
    with connection.cursor() as cursor:
        for model in tenant_owned_models():
            if model._meta.db_table in GLOBALLY_UNIQUE_IDS:
                continue
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, array_agg(a.attname::text) FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = %s::regclass AND i.indisunique AND NOT i.indisprimary GROUP BY 1",
                [model._meta.db_table],
            )
            for index, columns in cursor.fetchall():
                assert "tenant_id" in columns, index


def test_with_tenant_a_context_no_table_shows_a_row_of_tenant_b(two_tenants):
    a, b, _, _ = two_tenants
    for model in tenant_owned_models():
        table, column = model._meta.db_table, tenant_column(model)
        with tenant_context(a.pk):
            assert tenant_ids_seen(table, column) == [a.pk], f"{table}: seed a row for it in tests/tenant_app/seed.py"
        with tenant_context(b.pk):
            assert tenant_ids_seen(table, column) == [b.pk], table


def test_without_a_context_every_tenant_table_is_empty(two_tenants):
    assert current_tenant_id() is None
    for model in tenant_owned_models():
        assert row_count(model._meta.db_table) == 0, model._meta.db_table
        assert model._base_manager.count() == 0


def test_context_is_restored_after_a_nested_block_and_after_an_exception(two_tenants):
    a, b, _, _ = two_tenants
    with tenant_context(a.pk):
        with tenant_context(b.pk):
            assert current_tenant_id() == b.pk
        assert current_tenant_id() == a.pk
        with pytest.raises(ZeroDivisionError), tenant_context(b.pk):
            assert current_tenant_id() == b.pk
            raise ZeroDivisionError
        assert current_tenant_id() == a.pk
    assert current_tenant_id() is None
    assert Invoice.objects.count() == 0


def test_a_row_for_another_tenant_cannot_be_written_or_changed(two_tenants):
    a, b, seed_a, seed_b = two_tenants
    with tenant_context(a.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Contact.objects.create(tenant=b, kind="person", last_name="Sneaky")
        with connection.cursor() as cursor:
            cursor.execute("UPDATE contacts SET notes = 'hacked' WHERE id = %s", [seed_b["contact"].pk])
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM invoice_line_items WHERE tenant_id = %s", [b.pk])
            assert cursor.rowcount == 0
    with tenant_context(b.pk):
        assert Contact.objects.get(pk=seed_b["contact"].pk).notes == ""
        assert seed_b["invoice"].line_items.count() == 2


def test_a_child_row_cannot_point_at_another_tenants_parent(two_tenants):
    """Foreign-key checks bypass RLS: the composite (column, tenant_id) key is what stops this."""
    a, b, seed_a, seed_b = two_tenants
    with tenant_context(a.pk):
        with pytest.raises(IntegrityError, match="same_tenant"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "INSERT INTO invoice_line_items (tenant_id, invoice_id, description, quantity, unit_price_cents, "
                    "total_cents, sort_order) VALUES (%s, %s, 'x', 1, 1, 1, 0)",
                    [a.pk, seed_b["invoice"].pk],
                )


def test_the_application_role_cannot_switch_rls_off(two_tenants):
    a, *_ = two_tenants
    with connection.cursor() as cursor:
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            cursor.execute("SET LOCAL row_security = off")
            cursor.execute("SELECT count(*) FROM contacts")
        with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
            cursor.execute("ALTER TABLE contacts DISABLE ROW LEVEL SECURITY")
        with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
            cursor.execute("DROP POLICY tenant_isolation ON contacts")
    with tenant_context(a.pk):
        assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "table",
    [
        "invoice_audit_log",
        "payment_confirmation_audit",
        "credit_notes",
        "cross_tenant_query_audit",
        "authorization_audit",
    ],
)
def test_audit_tables_are_append_only_for_the_application_role(two_tenants, table):
    a, *_ = two_tenants
    with tenant_context(a.pk), connection.cursor() as cursor:
        for statement in (f'UPDATE "{table}" SET id = id', f'DELETE FROM "{table}"', f'TRUNCATE "{table}"'):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                cursor.execute(statement)


def test_contacts_are_never_looked_up_by_marketplace_user_without_a_tenant(two_tenants):
    a, b, seed_a, _ = two_tenants
    marketplace_user_id = seed_a["contact"].marketplace_user_id
    with tenant_context(a.pk):
        with pytest.raises(UnscopedTenantLookup):
            Contact.objects.filter(marketplace_user_id=marketplace_user_id)
        with pytest.raises(UnscopedTenantLookup):
            Contact.objects.get(marketplace_user_id=marketplace_user_id)
        with pytest.raises(UnscopedTenantLookup):
            Contact.all_objects.exclude(marketplace_user_id__isnull=True)
        scoped = Contact.objects.filter(tenant_id=a.pk).filter(marketplace_user_id=marketplace_user_id)
        assert [c.pk for c in scoped] == [seed_a["contact"].pk]
        assert (
            contact_get_by_marketplace_user(tenant_id=a.pk, marketplace_user_id=marketplace_user_id)
            == seed_a["contact"]
        )
        # Even naming the wrong tenant finds nothing: RLS holds the context's tenant.
        assert contact_get_by_marketplace_user(tenant_id=b.pk, marketplace_user_id=7000 + b.pk) is None


def test_one_marketplace_user_links_to_one_contact_per_tenant(two_tenants):
    a, b, *_ = two_tenants
    with tenant_context(a.pk):
        ContactFactory(tenant=a, marketplace_user_id=555)
        with pytest.raises(IntegrityError), transaction.atomic():
            ContactFactory(tenant=a, marketplace_user_id=555)
    with tenant_context(b.pk):
        ContactFactory(tenant=b, marketplace_user_id=555)


def test_a_user_sees_their_own_memberships_without_a_tenant_context(two_tenants):
    a, b, *_ = two_tenants
    person = UserFactory()
    with tenant_context(a.pk):
        TenantMembership.objects.create(tenant=a, user=person, role="staff")
    with tenant_context(b.pk):
        TenantMembership.objects.create(tenant=b, user=person, role="viewer")
    assert TenantMembership.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.current_user_id', %s, true)", [str(person.pk)])
    assert sorted(TenantMembership.objects.values_list("tenant_id", "role")) == [(a.pk, "staff"), (b.pk, "viewer")]
    # ... but may not write one without the tenant's context.
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        TenantMembership.objects.create(tenant=a, user=UserFactory(), role="owner")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.current_user_id', '', true)")
    assert TenantMembership.objects.count() == 0


def test_support_staff_cross_tenant_access_is_audited(two_tenants):
    a, b, _, seed_b = two_tenants
    staff = UserFactory(is_staff=True)
    with support_tenant_access(
        staff_user=staff, tenant_id=b.pk, reason="ticket 42", query_type="invoice_lookup", source_tenant_id=a.pk
    ):
        assert list(Invoice.objects.values_list("pk", flat=True)) == [seed_b["invoice"].pk]
    assert Invoice.objects.count() == 0
    audit = CrossTenantQueryAudit.objects.using(TENANT_DB).get()
    assert (
        audit.user_id,
        audit.source_tenant_id,
        audit.target_tenant_id,
        audit.query_type,
        audit.allowed,
        audit.reason,
    ) == (staff.pk, a.pk, b.pk, "invoice_lookup", True, "ticket 42")


def test_cross_tenant_access_by_a_non_staff_user_is_refused_and_audited(two_tenants):
    a, b, *_ = two_tenants
    with pytest.raises(PermissionDenied):
        with support_tenant_access(staff_user=a.owner_user, tenant_id=b.pk, reason="curious", query_type="contacts"):
            pytest.fail("entered another tenant's context")
    assert current_tenant_id() is None
    audit = CrossTenantQueryAudit.objects.using(TENANT_DB).get()
    assert (audit.user_id, audit.target_tenant_id, audit.allowed) == (a.owner_user.pk, b.pk, False)


def test_a_system_read_sees_every_tenant_but_writes_nothing_across_tenants(two_tenants):
    from breederhq.tenancy import system_read_context

    a, b, _seed_a, _seed_b = two_tenants
    with system_read_context(job="crossdb_check"):
        assert tenant_ids_seen("contacts") == sorted([a.pk, b.pk])
        with pytest.raises(DatabaseError), transaction.atomic(using=TENANT_DB):
            with connection.cursor() as cursor:
                cursor.execute("UPDATE contacts SET notes = 'changed by a job'")
                if cursor.rowcount == 0:  # RLS filtered every row out: nothing written, as required
                    raise DatabaseError("no row updatable")
    assert tenant_ids_seen("contacts") == []  # the setting ended with the block
    audit = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:crossdb_check")
    assert (audit.target_tenant_id, audit.allowed, audit.user_id) == (0, True, None)
