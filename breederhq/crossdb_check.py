"""The cross-database integrity check (DESIGN section 4, step 4): what `manage.py crossdb_check` and
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

from collections import Counter
from datetime import datetime, timedelta

from django.db import connections, models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from breederhq.crossdb import models_with_references, reference_fields, resolve
from breederhq.routing import database_for_model
from breederhq.tenancy import system_read_context
from config.database_routing import DATABASE_ALIASES


def run_crossdb_check(*, stuck_after_minutes: int = 30, now: datetime | None = None,
                      batch_size: int = 1000) -> dict:
    now = now or timezone.now()
    problems: list[dict] = []
    checked: Counter[str] = Counter()
    sequences = _LastAllocatedIds()
    # Tenant tables force row-level security: the check reads every tenant's rows through the
    # audited, SELECT-only system context (breederhq.tenancy), never by bypassing RLS.
    with system_read_context(job="crossdb_check", using="default"):
        for model in models_with_references():
            _check_source_model(model, problems, checked, sequences, batch_size)
        for alias in DATABASE_ALIASES:
            _check_registry_sources(alias, problems, checked)
            _check_outbox(alias, problems, checked, now - timedelta(minutes=stuck_after_minutes))
    return {"ok": not problems, "problems": problems, "checked": dict(sorted(checked.items()))}


class _LastAllocatedIds:
    """The highest id each target table's sequence has handed out: a missing id at or below it was
    hard-deleted (or rolled back), one above it never existed."""

    def __init__(self):
        self.cache: dict[type[models.Model], int] = {}

    def __call__(self, model: type[models.Model]) -> int:
        if model not in self.cache:
            alias = database_for_model(model)
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass)",
                    [model._meta.db_table, model._meta.pk.column],
                )
                self.cache[model] = cursor.fetchone()[0] or 0
        return self.cache[model]


def _check_source_model(model, problems, checked, last_allocated, batch_size) -> None:
    from breederhq.models import CrossDbReference

    home = database_for_model(model)
    table = model._meta.db_table
    fields = reference_fields(model)
    columns = {f.column for f in fields}
    last_pk = None
    while True:
        page = model._base_manager.using(home).order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        rows = list(page[:batch_size])
        if not rows:
            return
        last_pk = rows[-1].pk
        checked[f"{home}:{table}"] += len(rows)
        registry = {
            (ref.source_id, ref.source_column): ref
            for ref in CrossDbReference.objects.using(home).filter(
                source_table=table, source_id__in=[row.pk for row in rows]
            )
        }
        where = {"database": home, "table": table}
        for field in fields:
            for row, resolved in zip(rows, resolve(rows, field.name)):
                value = getattr(row, field.attname)
                ref = registry.pop((row.pk, field.column), None)
                at = {**where, "id": row.pk, "column": field.column, "value": value}
                if value is None:
                    if ref is not None:
                        problems.append({"kind": "registry_mismatch", **at, "registry": str(ref)})
                    continue
                if resolved is None:
                    problems.append({"kind": "unknown_discriminator", **at,
                                     "discriminator": getattr(row, field.discriminator)})
                    continue
                target_db = database_for_model(resolved.model)
                target_table = resolved.model._meta.db_table
                at.update(target_db=target_db, target_table=target_table)
                if target_db != home and ref is None:
                    problems.append({"kind": "unregistered_reference", **at})
                elif ref is not None and (target_db == home or (ref.target_db, ref.target_table, ref.target_id)
                                          != (target_db, target_table, value)):
                    problems.append({"kind": "registry_mismatch", **at, "registry": str(ref)})
                if resolved.is_missing:
                    kind = ("reference_to_hard_deleted_row" if value <= last_allocated(resolved.model)
                            else "dangling_reference")
                    problems.append({"kind": kind, **at})
        for (source_id, column), ref in registry.items():
            # A registry row for a column the model no longer declares.
            if column not in columns:
                problems.append({"kind": "registry_mismatch", **where, "id": source_id, "column": column,
                                 "value": None, "registry": str(ref)})


def _check_registry_sources(alias, problems, checked) -> None:
    from breederhq.models import CrossDbReference

    registry = CrossDbReference.objects.using(alias)
    checked[f"{alias}:cross_db_references"] += registry.count()
    sources = {m._meta.db_table: m for m in models_with_references() if database_for_model(m) == alias}
    # Registry rows of tables no model declares references for any more, then, table by table,
    # registry rows whose source row is gone (an anti-join inside the database).
    found = list(registry.exclude(source_table__in=list(sources)).order_by("id"))
    for model_table, model in sources.items():
        found += list(
            registry.filter(source_table=model_table)
            .exclude(Exists(model._base_manager.filter(pk=OuterRef("source_id"))))
            .order_by("id")
        )
    for ref in found:
        problems.append({"kind": "registry_row_without_source_row", "database": alias,
                         "table": ref.source_table, "id": ref.source_id, "column": ref.source_column,
                         "registry": str(ref)})


def _check_outbox(alias, problems, checked, overdue_before) -> None:
    from breederhq.models import OutboxMessage

    messages = OutboxMessage.objects.using(alias)
    checked[f"{alias}:outbox_messages_open"] += messages.exclude(status=OutboxMessage.Status.APPLIED).count()
    stuck = messages.filter(
        models.Q(status=OutboxMessage.Status.STUCK)
        | models.Q(status=OutboxMessage.Status.PENDING, created_at__lt=overdue_before)
    ).order_by("id")
    for message in stuck:
        problems.append({
            "kind": "outbox_message_stuck", "database": alias, "message_id": str(message.message_id),
            "topic": message.topic, "status": message.status, "attempts": message.attempts,
            "last_error": message.last_error, "created_at": message.created_at.isoformat(),
            "next_attempt_at": message.next_attempt_at.isoformat() if message.next_attempt_at else None,
        })
