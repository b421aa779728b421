"""The due-date migrations of marketplace invoices, run forward from the previous schema with invoices
in it: the `due_date` column arrives, the backfill gives each invoice the UTC date of its `due_at`
(deleted ones too; none where there is no `due_at`), `due_at` is kept, and the command re-runs the
backfill in batches for rows an older release writes meanwhile."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_roles import grant_app_role, owner_credentials
from marketplace_app import services
from marketplace_app.invoice_deletion import marketplace_invoice_delete
from marketplace_app.invoice_due_dates import backfill_batch, missing_due_dates
from marketplace_app.models import MarketplaceInvoice
from tests.factories.marketplace import ProviderFactory, make_transaction

PREVIOUS = ("marketplace_app", "0023_crossdb_check_changed_rows_indexes")

#: The `due_at` an older release stored, and the due date it means (its date in UTC).
INSTANTS = [
    ("2030-01-31 10:00:00+00", date(2030, 1, 31)),
    ("2030-01-31 23:30:00-05:00", date(2030, 2, 1)),  # already 1 February in UTC
    ("2030-02-01 01:00:00+02:00", date(2030, 1, 31)),  # still 31 January in UTC
    (None, None),
]


def _migrate(target) -> None:
    with owner_credentials([MARKETPLACE_DB]):
        executor = MigrationExecutor(connections[MARKETPLACE_DB])
        executor.migrate([target] if target != "latest" else executor.loader.graph.leaf_nodes("marketplace_app"))
        grant_app_role(using=MARKETPLACE_DB)


def _columns() -> set[str]:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'marketplace_invoices'")
        return {row[0] for row in cursor.fetchall()}


def _set_due_at(invoice_id: int, instant: str | None) -> None:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("UPDATE marketplace_invoices SET due_at = %s::timestamptz WHERE id = %s", [instant, invoice_id])


def _invoices(count: int) -> list[int]:
    provider = ProviderFactory()
    return [
        services.marketplace_invoice_create(
            transaction_id=make_transaction(provider, amount_cents=1000).pk,
            line_items=[services.LineItem("Walk", 1000)],
        ).pk
        for _ in range(count)
    ]


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_forward_from_the_previous_schema_backfills_each_due_date_from_due_at():
    ids = _invoices(len(INSTANTS) + 1)
    marketplace_invoice_delete(invoice_id=ids[1], actor_label="test")  # a deleted draft is backfilled too
    try:
        _migrate(PREVIOUS)
        assert "due_date" not in _columns()
        # What the previous release stored: an instant, in whatever offset the client sent.
        for invoice_id, (instant, _) in zip(ids[:-1], INSTANTS, strict=True):
            _set_due_at(invoice_id, instant)
        _set_due_at(ids[-1], "2031-06-15 12:00:00+00")
    finally:
        _migrate("latest")
    stored = {i.pk: i for i in MarketplaceInvoice.all_objects.using(MARKETPLACE_DB).filter(pk__in=ids)}
    assert [stored[i].due_date for i in ids] == [*(meant for _, meant in INSTANTS), date(2031, 6, 15)]
    assert stored[ids[0]].due_at == datetime(2030, 1, 31, 10, tzinfo=UTC)  # kept until the contract step
    assert stored[ids[1]].deleted_at is not None
    assert missing_due_dates() == 0
    # The invoices carry on: sent with their due date, the service writes both columns.
    services.marketplace_invoice_send(invoice_id=ids[0], expected_version=1)
    assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=ids[0]).due_date == date(2030, 1, 31)


@pytest.mark.django_db(databases=[MARKETPLACE_DB], transaction=True)
def test_the_command_backfills_rows_an_older_release_wrote_in_batches_and_keeps_set_dates():
    ids = _invoices(5)
    # An older release still running during the rollout writes only due_at.
    for invoice_id in ids[:3]:
        _set_due_at(invoice_id, "2030-03-01 22:00:00-03:00")
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "UPDATE marketplace_invoices SET due_at = '2030-05-05 00:00:00+00', due_date = '2030-05-05' WHERE id = %s",
            [ids[3]],
        )
    assert missing_due_dates() == 3
    first = backfill_batch(after_id=0, batch_size=2)
    assert first == (ids[1], 2)
    call_command("backfill_invoice_due_dates", "--batch-size", "2")
    dates = dict(MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(pk__in=ids).values_list("id", "due_date"))
    assert dates == {
        ids[0]: date(2030, 3, 2),
        ids[1]: date(2030, 3, 2),
        ids[2]: date(2030, 3, 2),
        ids[3]: date(2030, 5, 5),
        ids[4]: None,
    }
    assert missing_due_dates() == 0
    assert backfill_batch(after_id=0, batch_size=10) == (ids[-1], 0)  # a re-run changes nothing
