"""What counts as a problem: the checks of source rows, registry rows and the outbox, set-wise in SQL."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef
from django.utils.dateparse import parse_datetime

from breederhq.crossdb import models_with_references, reference_fields
from breederhq.crossdb_check.common import (
    _EPOCH,
    DEMO_FAULT_KEY,
    FULL,
    INCREMENTAL,
    _quoted,
    _rows,
)
from breederhq.models import CrossDbReference
from breederhq.routing import database_for_model


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
