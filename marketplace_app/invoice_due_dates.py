"""Marketplace invoices' due date during its rename (`due_at`, an instant, to `due_date`, a calendar
date; breederhq/invoicing/due_dates.py has the meaning). The expand step added `due_date`; this is
the backfill, shared by the migration and `manage.py backfill_invoice_due_dates` (to re-run it for
rows an older release wrote during the rollout, and before the contract step drops `due_at`)."""

from __future__ import annotations

from django.db import connections

from breederhq.databases import MARKETPLACE_DB

DB = MARKETPLACE_DB


def backfill_batch(*, after_id: int, batch_size: int, using: str = DB) -> tuple[int | None, int]:
    """Give the next `batch_size` invoices by id after `after_id` the due date their `due_at` means
    (its UTC date) where they have none: (the last id looked at, or None when there is none left;
    rows changed). One statement, its own short transaction under autocommit. Rows that already have
    a due date keep it (the services write both columns); deleted invoices are backfilled too."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "WITH batch AS (SELECT id FROM marketplace_invoices WHERE id > %s ORDER BY id LIMIT %s),"
            " changed AS ("
            "  UPDATE marketplace_invoices i SET due_date = (i.due_at AT TIME ZONE 'UTC')::date FROM batch"
            "  WHERE i.id = batch.id AND i.due_at IS NOT NULL AND i.due_date IS NULL RETURNING 1)"
            " SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM changed)",
            [after_id, batch_size],
        )
        last_id, changed = cursor.fetchone()
    return last_id, changed


def backfill_all(*, batch_size: int = 5000, using: str = DB, pause=None) -> tuple[int, int]:
    """Every batch in turn: (batches, rows changed). `pause()` runs between batches (load shedding)."""
    after, batches, changed = 0, 0, 0
    while True:
        last_id, rows = backfill_batch(after_id=after, batch_size=batch_size, using=using)
        if last_id is None:
            return batches, changed
        after, batches, changed = last_id, batches + 1, changed + rows
        if pause is not None:
            pause()


def missing_due_dates(*, using: str = DB) -> int:
    """Invoices with a `due_at` and no `due_date` (0 before the contract step may drop `due_at`)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketplace_invoices WHERE due_at IS NOT NULL AND due_date IS NULL")
        return cursor.fetchone()[0]
