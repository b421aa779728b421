"""Running the check: one run at a time (an advisory lock), table by table in batches, on a time
budget, resuming from its checkpoints."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from breederhq.crossdb import models_with_references
from breederhq.crossdb_check.common import (
    _EPOCH,
    FULL,
    INCREMENTAL,
    JOB,
    LOCK_KEY,
    SETTLE,
    _quoted,
    _rows,
)
from breederhq.crossdb_check.problems import (
    _check_outbox,
    _check_registry_sources,
    _check_source_rows,
    _check_stale_registry_rows,
    _LastAllocatedIds,
)
from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.routing import database_for_model
from breederhq.tenancy import system_read_context


@contextmanager
def crossdb_check_lock():
    """Yields True when this process now holds the check's lock, False when another run holds it."""
    connection = connections[TENANT_DB]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def run_crossdb_check(
    *,
    mode: str = FULL,
    stuck_after_minutes: int = 30,
    now: datetime | None = None,
    batch_size: int = 10_000,
    time_budget_seconds: float | None = None,
    settle: timedelta = SETTLE,
) -> dict:
    """The problems in both databases, `mode`:

    * `full`: every source row, table by table in primary-key batches, and every registry row;
    * `incremental`: only the source rows and registry rows whose `updated_at` (or, for an
      append-only table, whose id) is past the watermark its previous run left, in that order.

    Either way the outbox is checked in full (its open messages are few and indexed). With a
    `time_budget_seconds`, the run stops after the batch that crosses it and says so
    (`complete: False`); its checkpoints (job_checkpoints) make the next run of the same mode resume
    where it stopped. A full pass started afresh (no checkpoint) starts at the first row.
    `checked` counts the rows each table had examined. Only one run at a time (`crossdb_check_lock`):
    a second one returns `{"skipped": ...}` at once.

    Set-wise: per reference column and batch, one statement finds the rows whose column and
    registry row disagree, and the ids the column points at are checked against the target table
    `batch_size` distinct ids per statement, so the check reads ids, never model instances."""
    if mode not in (FULL, INCREMENTAL):
        raise ValueError(f"mode must be {FULL!r} or {INCREMENTAL!r}")
    with crossdb_check_lock() as acquired:
        if not acquired:
            return {
                "ok": True,
                "skipped": "another crossdb_check is running",
                "mode": mode,
                "problems": [],
                "demo_faults": [],
                "checked": {},
                "complete": False,
            }
        return _run(mode, stuck_after_minutes, now or timezone.now(), batch_size, time_budget_seconds, settle)


class _Budget:
    """Spent once the deadline has passed and at least one batch was done (so that every run, even
    on a budget too small for one batch, moves the checkpoints on)."""

    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.batches = 0
        self.stopped = False

    def spent(self) -> bool:
        if self.batches and self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped = True
        return self.stopped


def _run(mode, stuck_after_minutes, now, batch_size, time_budget_seconds, settle) -> dict:
    from breederhq.jobs.models import JobCheckpoint

    problems: list[dict] = []
    demo_faults: list[dict] = []
    checked: Counter[str] = Counter()
    sequences = _LastAllocatedIds()
    budget = _Budget(time_budget_seconds)
    checkpoints = {c.key: c.position for c in JobCheckpoint.objects.using(TENANT_DB).filter(job=JOB)}

    def save(key: str, position: dict | None) -> None:
        if position is None:
            JobCheckpoint.objects.using(TENANT_DB).filter(job=JOB, key=key).delete()
        else:
            JobCheckpoint.objects.using(TENANT_DB).update_or_create(job=JOB, key=key, defaults={"position": position})

    upto = now - settle  # incremental: rows changed up to then (SETTLE)
    # Tenant tables force row-level security: the check reads every tenant's rows through the
    # audited, SELECT-only system context (breederhq.tenancy), never by bypassing RLS.
    with system_read_context(job="crossdb_check", using=TENANT_DB):
        for model in models_with_references():
            if budget.spent():
                break
            key = f"{mode}:{database_for_model(model)}:{model._meta.db_table}"
            checked[f"{database_for_model(model)}:{model._meta.db_table}"] += 0  # listed even when unchanged
            for scope, params, examined, position in _source_batches(
                model, mode, checkpoints.get(key), upto, batch_size
            ):
                _check_source_rows(model, scope, params, problems, sequences, batch_size)
                checked[f"{database_for_model(model)}:{model._meta.db_table}"] += examined
                save(key, position)
                budget.batches += 1
                if budget.spent():
                    break
            if mode == FULL and not budget.stopped:
                _check_stale_registry_rows(model, problems)
        for alias in DATABASE_ALIASES:
            key = f"{mode}:{alias}:cross_db_references"
            if not budget.spent():
                checked[f"{alias}:cross_db_references"] += 0  # listed even when nothing changed
                for examined, position in _check_registry_sources(
                    alias, mode, checkpoints.get(key), upto, batch_size, problems
                ):
                    checked[f"{alias}:cross_db_references"] += examined
                    save(key, position)
                    budget.batches += 1
                    if budget.spent():
                        break
            _check_outbox(alias, problems, checked, now - timedelta(minutes=stuck_after_minutes), demo_faults)
    complete = not budget.stopped
    if mode == FULL and complete:  # the next full pass starts again from the first row
        JobCheckpoint.objects.using(TENANT_DB).filter(job=JOB, key__startswith=f"{FULL}:").delete()
    return {
        "ok": not problems,
        "mode": mode,
        "complete": complete,
        "problems": problems,
        "demo_faults": demo_faults,
        "checked": dict(sorted(checked.items())),
    }


def _source_batches(model, mode, position, upto, batch_size):
    """(scope SQL on the source alias `s`, its params, rows in the batch, position after it) for
    each batch of `model`'s rows this run examines, in order."""
    home, table = database_for_model(model), _quoted(model._meta.db_table)
    pk = _quoted(model._meta.pk.column)
    has_updated_at = any(f.name == "updated_at" for f in model._meta.concrete_fields)
    if mode == INCREMENTAL and has_updated_at:
        after_time = parse_datetime((position or {}).get("updated_at", _EPOCH))
        after_id = (position or {}).get("id", 0)
        while True:
            rows = _rows(
                home,
                f"SELECT {pk}, updated_at FROM {table} WHERE (updated_at, {pk}) > (%s, %s)"
                f" AND updated_at <= %s ORDER BY updated_at, {pk} LIMIT {int(batch_size)}",
                [after_time, after_id, upto],
            )
            if not rows:
                return
            after_id, after_time = rows[-1]
            yield (
                f"s.{pk} = ANY(%s)",
                [[row[0] for row in rows]],
                len(rows),
                {"updated_at": after_time.isoformat(), "id": after_id},
            )
            if len(rows) < batch_size:
                return
    else:  # a full pass, or the new rows of an append-only table: by primary key
        after = (position or {}).get("id", 0)
        while True:
            examined, last = _rows(
                home,
                f"SELECT count(*), max(id) FROM (SELECT {pk} AS id FROM {table}"
                f" WHERE {pk} > %s ORDER BY {pk} LIMIT {int(batch_size)}) batch",
                [after],
            )[0]
            if not examined:
                return
            yield f"s.{pk} > %s AND s.{pk} <= %s", [after, last], examined, {"id": last}
            after = last
            if examined < batch_size:
                return
