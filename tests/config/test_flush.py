"""`flush` (breederhq/management/commands/flush.py), which transactional tests run after every test:
it truncates only the tables with storage or planner statistics, yet leaves every table empty, rows
hidden from the owner by forced row-level security and rows in a partition included, and every empty
table with the statistics of a new one; post_migrate then makes the reference rows again, and the
application role keeps its rights."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_roles import owner_credentials
from breederhq.management.commands.flush import tables_to_flush
from breederhq.tenancy import tenant_context
from marketplace_app import services
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)

#: Filled again by post_migrate after a flush (content types, permissions, the back-office groups).
REFERENCE_TABLES = {"django_content_type", "auth_permission", "auth_group", "auth_group_permissions"}


def _superuser(alias: str):
    """A superuser connection to the test database behind `alias`: it sees every row, whatever the
    row-level security policies say."""
    if not settings.DATABASE_ADMIN_URL:
        pytest.skip("DATABASE_ADMIN_URL is not set (make test always sets it)")
    admin = conninfo_to_dict(settings.DATABASE_ADMIN_URL)
    return psycopg.connect(make_conninfo(**{**admin, "dbname": connections[alias].settings_dict["NAME"]}))


def _rows_per_table(alias: str) -> dict[str, int]:
    tables = connections[alias].introspection.django_table_names(only_existing=True, include_views=False)
    with _superuser(alias) as conn:
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608 - table names
            for table in sorted(tables)
        }


def _statistics(alias: str) -> dict[str, tuple[int, int, float]]:
    """{table: (rows, bytes of storage, pg_class.reltuples)} of every ordinary table of the schema,
    partitions included, as the superuser (who sees every row)."""
    with _superuser(alias) as conn:
        tables = conn.execute(
            "SELECT relname, pg_relation_size(oid), reltuples FROM pg_class"
            " WHERE relnamespace = to_regnamespace(current_schema()) AND relkind = 'r'"
        ).fetchall()
        return {
            table: (conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0], size, reltuples)  # noqa: S608
            for table, size, reltuples in tables
        }


def _write_some_rows():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        ContactFactory(tenant=tenant)  # a tenant table under forced row-level security
    provider = ProviderFactory()
    make_listing(provider)
    buyer = MarketplaceUserFactory()
    services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="hello")  # a partitioned table


def test_a_table_the_owner_cannot_see_into_still_counts_as_written():
    _write_some_rows()
    with owner_credentials(aliases=[TENANT_DB, MARKETPLACE_DB]):
        written = {alias: set(tables_to_flush(connections[alias])) for alias in (TENANT_DB, MARKETPLACE_DB)}
    assert "contacts" in written[TENANT_DB]
    assert "messages" in written[MARKETPLACE_DB]  # its rows are in a partition, not in the parent
    assert "service_listings" in written[MARKETPLACE_DB]


@pytest.mark.parametrize("alias", [TENANT_DB, MARKETPLACE_DB])
def test_flush_leaves_every_table_empty_but_the_reference_rows_migrate_makes(alias):
    _write_some_rows()
    assert any(count for table, count in _rows_per_table(alias).items() if table not in REFERENCE_TABLES)

    call_command("flush", database=alias, interactive=False, verbosity=0, reset_sequences=False)

    rows = _rows_per_table(alias)
    assert {table: count for table, count in rows.items() if count and table not in REFERENCE_TABLES} == {}
    if alias == TENANT_DB:  # auth lives in the tenant database: its reference rows are back
        assert rows["django_content_type"] and rows["auth_permission"]
        assert rows["auth_group"] == 2 and rows["auth_group_permissions"]  # support and finance


def test_after_a_flush_the_application_role_still_writes_and_reads():
    _write_some_rows()
    for alias in (TENANT_DB, MARKETPLACE_DB):
        call_command("flush", database=alias, interactive=False, verbosity=0, reset_sequences=False)
    _write_some_rows()  # as the application role: its grants survived the flush


def _reference_rows():
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    return (
        sorted(ContentType.objects.using(TENANT_DB).values_list("id", "app_label", "model")),
        {group.name: sorted(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()},
    )


def test_reference_rows_left_as_they_were_are_kept_and_changed_ones_made_again():
    from django.contrib.auth.models import Group

    call_command("flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False)
    content_types, groups = _reference_rows()
    assert set(groups) == {"support", "finance"} and all(groups.values())

    _write_some_rows()
    call_command("flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False)
    assert _reference_rows() == (content_types, groups)  # the same rows, ids included: not made again

    Group.objects.get(name="finance").permissions.clear()
    Group.objects.filter(name="support").delete()
    call_command("flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False)
    assert _reference_rows()[1] == groups  # both groups exactly as the back office defines them


def test_reference_rows_a_flush_left_out_are_made_by_the_next_one():
    # Django's own test cases with `available_apps` flush without post_migrate: the reference rows
    # are gone then, and the next ordinary flush must make them again, not take "empty" as unchanged.
    from django.contrib.auth.models import Group

    call_command("flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False)
    expected = _reference_rows()
    Group.objects.filter(name="support").delete()  # changed: this flush empties the reference rows
    call_command(
        "flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False, inhibit_post_migrate=True
    )
    assert _reference_rows() == ([], {})
    call_command("flush", database=TENANT_DB, interactive=False, verbosity=0, reset_sequences=False)
    assert _reference_rows()[1] == expected[1] and len(_reference_rows()[0]) == len(expected[0])


class _RolledBack(Exception):
    pass


@pytest.mark.parametrize("alias", [TENANT_DB, MARKETPLACE_DB])
def test_a_table_vacuum_found_empty_is_left_with_the_statistics_of_a_new_one(alias):
    # Rows written and rolled back, as every test case leaves them, then a VACUUM, as autovacuum runs
    # between tests: the dead rows are gone and the file is cut back to nothing, but the table now has
    # statistics saying "empty" (reltuples 0), which the planner takes at its word, where a new table
    # has none (-1, planned as ten pages). Nothing in storage: the flush must look at the statistics.
    with pytest.raises(_RolledBack), transaction.atomic(using=TENANT_DB), transaction.atomic(using=MARKETPLACE_DB):
        _write_some_rows()
        raise _RolledBack
    with _superuser(alias) as conn:
        conn.autocommit = True
        conn.execute("VACUUM")
    written = "contacts" if alias == TENANT_DB else "service_listings"
    assert _statistics(alias)[written] == (0, 0, 0)

    call_command("flush", database=alias, interactive=False, verbosity=0, reset_sequences=False)

    analyzed_empty = {
        table for table, (rows, _, reltuples) in _statistics(alias).items() if not rows and reltuples >= 0
    }
    assert analyzed_empty == set()
