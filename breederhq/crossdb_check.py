"""The cross-database integrity check: what `manage.py crossdb_check` and
the beat job report. Read-only; each problem is a dict with a `kind` and where to look.

Kinds:
  dangling_reference              a declared reference to an id its target table never had
  reference_to_hard_deleted_row   a declared reference to an id that existed and was hard-deleted
  unknown_discriminator           a polymorphic reference whose discriminator names no target
  unregistered_reference          a cross-database reference with no registry row (QuerySet.update,
                                  raw SQL, a row written before the declaration existed)
  registry_mismatch               a registry row that disagrees with its column (or whose column is
                                  now empty, or now points into the same database)
  registry_row_without_source_row a registry row whose source row is gone
  outbox_message_stuck            an outbox message marked stuck, or pending longer than the threshold
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connections, models
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from breederhq.crossdb import models_with_references, reference_fields
from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import CrossDbReference
from breederhq.routing import database_for_model
from breederhq.tenancy import system_read_context

#: The key, in an outbox message's payload, that marks it as a deliberate demo fault (its value says
#: why): listed by the check, not counted as a problem (set by demo/data.py).
DEMO_FAULT_KEY = "demo_fault"

FULL, INCREMENTAL = "full", "incremental"
#: The job name its checkpoints and its lock are kept under.
JOB = "crossdb_check"
#: An incremental run looks at rows changed up to this long before it starts, not later: a row
#: written by a transaction still open at the start has an `updated_at` from before the start, and is
#: seen by the next run. (A transaction open longer than this is caught by the nightly full pass.)
SETTLE = timedelta(minutes=5)
#: pg_try_advisory_lock key of a running check (the tenant database): one run at a time, whoever
#: starts it (beat, manage.py); released by PostgreSQL if the process dies.
LOCK_KEY = 0x63726F7373646201  # "crossdb" + 1
_EPOCH = "1970-01-01T00:00:00+00:00"


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


class _LastAllocatedIds:
    """The highest id each target table's sequence has handed out: a missing id at or below it was
    hard-deleted (or rolled back), one above it never existed."""

    def __init__(self):
        self.cache: dict[type[models.Model], int] = {}

    def __call__(self, model: type[models.Model]) -> int:
        if model not in self.cache:
            self.cache[model] = (
                _rows(
                    database_for_model(model),
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass)",
                    [model._meta.db_table, model._meta.pk.column],
                )[0][0]
                or 0
            )
        return self.cache[model]


def _rows(alias: str, sql: str, params=()) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _quoted(name: str) -> str:
    return connections[TENANT_DB].ops.quote_name(name)


def _check_source_rows(model, scope, scope_params, problems, last_allocated, batch_size) -> None:
    """The problems of the rows of `model` that `scope` (SQL on the source alias `s`) selects."""
    home = database_for_model(model)
    where = {"database": home, "table": model._meta.db_table}
    found: list[tuple[int, int, int, dict]] = []  # (field, source row id, position in the row's problems, problem)
    for index, field in enumerate(reference_fields(model)):
        targets = field.target_models()
        for position, problem in _registry_problems(model, field, targets, home, where, scope, scope_params):
            found.append((index, problem["id"], position, problem))
        for key, target in targets.items():
            for problem in _missing_targets(
                model, field, key, target, home, where, last_allocated, batch_size, scope, scope_params
            ):
                found.append((index, problem["id"], 3, problem))
    problems.extend(problem for *_, problem in sorted(found, key=lambda item: item[:3]))


def _check_stale_registry_rows(model, problems) -> None:
    """Registry rows of a column the model no longer declares (whose source row still exists)."""
    home, table = database_for_model(model), model._meta.db_table
    pk = _quoted(model._meta.pk.column)
    stale = _rows(
        home,
        f"SELECT r.source_table, r.source_id, r.source_column, r.target_db, r.target_table, r.target_id"
        f" FROM {_quoted(CrossDbReference._meta.db_table)} r WHERE r.source_table = %s AND r.source_column <> ALL(%s)"
        f" AND EXISTS (SELECT 1 FROM {_quoted(table)} s WHERE s.{pk} = r.source_id) ORDER BY r.source_id, r.id",
        [table, [f.column for f in reference_fields(model)]],
    )
    for row in stale:
        problems.append(
            {
                "kind": "registry_mismatch",
                "database": home,
                "table": table,
                "id": row[1],
                "column": row[2],
                "value": None,
                "registry": _registry_text(row),
            }
        )


def _registry_text(row) -> str:
    return str(
        CrossDbReference(
            source_table=row[0],
            source_id=row[1],
            source_column=row[2],
            target_db=row[3],
            target_table=row[4],
            target_id=row[5],
        )
    )


def _target_case(discriminator: str | None, targets: dict, attribute) -> tuple[str, list]:
    """SQL for the (database or table) each row's column points into, by its `discriminator`
    column's value (None: a single target); NULL for an unknown discriminator."""
    if discriminator is None:
        return "%s", [attribute(targets[None])]
    whens = " ".join(f"WHEN {discriminator} = %s THEN %s" for _ in targets)
    return f"(CASE {whens} END)", [value for key, target in targets.items() for value in (key, attribute(target))]


def _registry_problems(model, field, targets, home, where, scope, scope_params):
    """(position, problem) for each row of `field` whose column and registry row disagree: a
    registry row for an empty column (0), an unknown discriminator (1), a link to the other
    database with no registry row or another one, or a registry row for a same-database link (2).
    One statement: the source table joined to its registry rows."""
    table, pk, column = model._meta.db_table, _quoted(model._meta.pk.column), _quoted(field.column)
    discriminator = f"s.{_quoted(model._meta.get_field(field.discriminator).column)}" if field.is_polymorphic else None
    target_db, db_params = _target_case(discriminator, targets, database_for_model)
    target_table, table_params = _target_case(discriminator, targets, lambda target: target._meta.db_table)
    rows = _rows(
        home,
        f"SELECT s.{pk}, s.{column}, {discriminator or 'NULL'}, {target_db}, {target_table},"
        f" r.source_table, r.source_id, r.source_column, r.target_db, r.target_table, r.target_id"
        f" FROM {_quoted(table)} s LEFT JOIN {_quoted(CrossDbReference._meta.db_table)} r"
        f" ON r.source_table = %s AND r.source_id = s.{pk} AND r.source_column = %s"
        f" WHERE {scope} AND CASE WHEN s.{column} IS NULL THEN r.id IS NOT NULL"
        f" WHEN {target_db} IS NULL THEN TRUE"
        f" WHEN {target_db} = %s THEN r.id IS NOT NULL"
        f" ELSE (r.target_db, r.target_table, r.target_id) IS DISTINCT FROM ({target_db}, {target_table}, s.{column})"
        f" END",
        [
            *db_params,
            *table_params,
            table,
            field.column,
            *scope_params,
            *db_params,
            *db_params,
            home,
            *db_params,
            *table_params,
        ],
    )
    for source_id, value, discriminator_value, expected_db, expected_table, *registry in rows:
        at = {**where, "id": source_id, "column": field.column, "value": value}
        registered = registry[0] is not None
        if value is None:
            yield 0, {"kind": "registry_mismatch", **at, "registry": _registry_text(registry)}
        elif expected_db is None:
            yield 1, {"kind": "unknown_discriminator", **at, "discriminator": discriminator_value}
        elif not registered:
            yield 2, {"kind": "unregistered_reference", **at, "target_db": expected_db, "target_table": expected_table}
        else:
            yield (
                2,
                {
                    "kind": "registry_mismatch",
                    **at,
                    "target_db": expected_db,
                    "target_table": expected_table,
                    "registry": _registry_text(registry),
                },
            )


def _missing_targets(model, field, key, target, home, where, last_allocated, batch_size, scope, scope_params):
    """Problems for the rows of `field` (with discriminator `key`) pointing at an id `target`'s
    table does not hold: the column's distinct ids, `batch_size` at a time in id order, each batch
    looked up in the target's database with one statement."""
    table, pk, column = model._meta.db_table, _quoted(model._meta.pk.column), _quoted(field.column)
    target_db, target_table = database_for_model(target), target._meta.db_table
    selected, params = f"{scope} AND s.{column} IS NOT NULL", list(scope_params)
    if field.is_polymorphic:
        selected += f" AND s.{_quoted(model._meta.get_field(field.discriminator).column)} = %s"
        params.append(key)
    missing, after = [], None
    while True:
        ids = [
            row[0]
            for row in _rows(
                home,
                f"SELECT DISTINCT s.{column} FROM {_quoted(table)} s WHERE {selected}"
                + (f" AND s.{column} > %s" if after is not None else "")
                + f" ORDER BY 1 LIMIT {int(batch_size)}",
                [*params, *([after] if after is not None else [])],
            )
        ]
        if not ids:
            break
        after = ids[-1]
        missing += [
            row[0]
            for row in _rows(
                target_db,
                f"SELECT wanted.id FROM unnest(%s::bigint[]) AS wanted(id) WHERE NOT EXISTS"
                f" (SELECT 1 FROM {_quoted(target_table)} t WHERE t.{_quoted(target._meta.pk.column)} = wanted.id)",
                [ids],
            )
        ]
        if len(ids) < batch_size:
            break
    # The rows pointing at them, `batch_size` ids at a time (a wiped target table misses them all).
    for start in range(0, len(missing), batch_size):
        for source_id, value in _rows(
            home,
            f"SELECT s.{pk}, s.{column} FROM {_quoted(table)} s WHERE {selected} AND s.{column} = ANY(%s::bigint[])",
            [*params, missing[start : start + batch_size]],
        ):
            kind = "reference_to_hard_deleted_row" if value <= last_allocated(target) else "dangling_reference"
            yield {
                "kind": kind,
                **where,
                "id": source_id,
                "column": field.column,
                "value": value,
                "target_db": target_db,
                "target_table": target_table,
            }


def _check_registry_sources(alias, mode, position, upto, batch_size, problems):
    """Registry rows whose source table no model declares references for any more, or whose source
    row is gone (an anti-join inside the database), batch by batch: yields (rows examined, position
    after the batch). Full: by id. Incremental: the rows written since the watermark, by
    (updated_at, id) (a source row deleted by raw SQL leaves its registry row unchanged: the nightly
    full pass finds it)."""
    registry = CrossDbReference.objects.using(alias)
    sources = {m._meta.db_table: m for m in models_with_references() if database_for_model(m) == alias}
    position = position or {}
    after_id = position.get("id", 0)
    after_time = parse_datetime(position.get("updated_at", _EPOCH))
    while True:
        if mode == INCREMENTAL:
            rows = list(
                registry.filter(
                    models.Q(updated_at__gt=after_time) | models.Q(updated_at=after_time, id__gt=after_id),
                    updated_at__lte=upto,
                )
                .order_by("updated_at", "id")
                .values_list("id", "updated_at")[:batch_size]
            )
            ids = [row[0] for row in rows]
            batch = registry.filter(id__in=ids)
            if rows:
                after_id, after_time = rows[-1]
        else:
            ids = list(registry.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:batch_size])
            batch = registry.filter(id__gt=after_id, id__lte=ids[-1]) if ids else registry.none()
            if ids:
                after_id = ids[-1]
        if not ids:
            return
        found = list(batch.exclude(source_table__in=list(sources)).order_by("id"))
        for model_table, model in sources.items():
            found += list(
                batch.filter(source_table=model_table)
                .exclude(Exists(model._base_manager.filter(pk=OuterRef("source_id"))))
                .order_by("id")
            )
        for ref in found:
            problems.append(
                {
                    "kind": "registry_row_without_source_row",
                    "database": alias,
                    "table": ref.source_table,
                    "id": ref.source_id,
                    "column": ref.source_column,
                    "registry": str(ref),
                }
            )
        yield len(ids), ({"id": after_id} if mode == FULL else {"updated_at": after_time.isoformat(), "id": after_id})
        if len(ids) < batch_size:
            return


def _check_outbox(alias, problems, checked, overdue_before, demo_faults) -> None:
    from breederhq.models import OutboxMessage

    messages = OutboxMessage.objects.using(alias)
    checked[f"{alias}:outbox_messages_open"] += messages.exclude(status=OutboxMessage.Status.APPLIED).count()
    stuck = messages.filter(
        models.Q(status=OutboxMessage.Status.STUCK)
        | models.Q(status=OutboxMessage.Status.PENDING, created_at__lt=overdue_before)
    ).order_by("id")
    for message in stuck:
        if isinstance(message.payload, dict) and message.payload.get(DEMO_FAULT_KEY):
            # A deliberate fault of `load_demo_data`, marked in its payload: listed, not a problem.
            demo_faults.append(
                {
                    "kind": "outbox_message_stuck",
                    "database": alias,
                    "message_id": str(message.message_id),
                    "topic": message.topic,
                    "demo_fault": message.payload[DEMO_FAULT_KEY],
                }
            )
            continue
        problems.append(
            {
                "kind": "outbox_message_stuck",
                "database": alias,
                "message_id": str(message.message_id),
                "topic": message.topic,
                "status": message.status,
                "attempts": message.attempts,
                "last_error": message.last_error,
                "created_at": message.created_at.isoformat(),
                "next_attempt_at": message.next_attempt_at.isoformat() if message.next_attempt_at else None,
            }
        )
