"""Links between the two databases: declared columns, a registry, soft delete,
batch resolution. docs/architecture/cross-database-integrity.md is the user guide.

A column that holds an id from the other database is declared in one line::

    provider_tenant_id = CrossDatabaseReference("tenant_app.Tenant", null=True)

or, when the row points at one of several tables chosen by a discriminator column::

    invoice_type = models.CharField(max_length=20)
    invoice_id = CrossDatabaseReference(
        targets={"tenant": "tenant_app.Invoice", "marketplace": "marketplace_app.MarketplaceInvoice"},
        discriminator="invoice_type",
    )

and the model inherits `CrossDatabaseReferencesMixin`, whose `save()` records the link in
`cross_db_references` of the row's own database, in the same transaction as the row (only links
whose target lives in the *other* database are recorded: a same-database target needs no registry).
Rows that anything refers to inherit `SoftDeleteModel`: `.delete()` and `QuerySet.delete()` only
set `deleted_at`, and `hard_delete()` is refused while anything still points at the row.

Paths that bypass the registry: `QuerySet.update()` on a reference column and raw SQL. Use
`record_references(rows, using=...)` after them; `manage.py crossdb_check` reports any row whose
reference column and registry disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.db import connections, models, router, transaction
from django.db.models.signals import post_delete
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.errors import ReferencedRowDeletion
from breederhq.routing import database_for_model

# --- Declared references ---------------------------------------------------------------------------


class CrossDatabaseReference(models.BigIntegerField):
    """A plain indexed BIGINT holding the id of a row in another table, usually in the other database.
    Never a foreign key: nothing in PostgreSQL keeps it true, the registry and crossdb_check do.

    Either `target` ("app_label.ModelName"), or `targets` ({discriminator value: "app_label.Model"})
    plus `discriminator` (the name of the column on the same model that picks the target). In
    migrations it is a plain BigIntegerField: the declaration lives on the model, so renaming a
    target never needs a migration.
    """

    def __init__(
        self,
        target: str | None = None,
        *args,
        targets: dict[str, str] | None = None,
        discriminator: str | None = None,
        **kwargs,
    ):
        if target is not None and targets is not None:
            raise TypeError("CrossDatabaseReference takes either target or targets, not both")
        if targets is not None and not discriminator:
            raise TypeError("CrossDatabaseReference(targets=...) needs discriminator='<column name>'")
        self.target = target
        self.targets = dict(targets) if targets is not None else None
        self.discriminator = discriminator
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.BigIntegerField", args, kwargs

    def clone(self):
        # Field.clone rebuilds through __init__ from deconstruct(), which drops db_index=False (the
        # plain field's default) and the targets; this class would then default to an index.
        name, _path, args, kwargs = self.deconstruct()
        kwargs["db_index"] = self.db_index
        return self.__class__(self.target, *args, targets=self.targets, discriminator=self.discriminator, **kwargs)

    @property
    def is_polymorphic(self) -> bool:
        return self.targets is not None

    def target_labels(self) -> dict[str | None, str]:
        """{discriminator value: model label}; the single-target form uses the key None."""
        return dict(self.targets) if self.is_polymorphic else {None: self.target}

    def target_models(self) -> dict[str | None, type[models.Model]]:
        return {key: apps.get_model(label) for key, label in self.target_labels().items()}

    def target_model(self) -> type[models.Model]:
        """The target of a single-target reference."""
        if self.is_polymorphic:
            raise TypeError(f"{self.name} is polymorphic: use target_model_for(row)")
        return apps.get_model(self.target)

    def target_model_for(self, instance: models.Model) -> type[models.Model] | None:
        """The model this row's value points into; None for an unknown discriminator value."""
        if not self.is_polymorphic:
            return self.target_model()
        label = self.targets.get(getattr(instance, self.discriminator))
        return apps.get_model(label) if label else None


def reference_fields(model: type[models.Model]) -> list[CrossDatabaseReference]:
    return [f for f in model._meta.concrete_fields if isinstance(f, CrossDatabaseReference)]


@cache
def models_with_references() -> tuple[type[models.Model], ...]:
    return tuple(m for m in apps.get_models() if reference_fields(m))


def _database_of(instance: models.Model) -> str:
    return instance._state.db or router.db_for_write(type(instance), instance=instance)


# --- The registry ----------------------------------------------------------------------------------


def record_references(instances: models.Model | Iterable[models.Model], *, using: str) -> None:
    """Bring the registry rows of `instances` in line with their reference columns.

    Call it in the same transaction as the write (the mixin's save() and bulk_create() do). Costs
    one DELETE and one upsert per reference field, whatever the number of rows.
    """
    from breederhq.models import CrossDbReference

    if isinstance(instances, models.Model):
        instances = [instances]
    by_model: dict[type[models.Model], list[models.Model]] = defaultdict(list)
    for instance in instances:
        by_model[type(instance)].append(instance)

    for model, rows in by_model.items():
        table = model._meta.db_table
        for field in reference_fields(model):
            unregistered, registered = [], []
            for row in rows:
                target_id = getattr(row, field.attname)
                target = field.target_model_for(row) if target_id is not None else None
                if target is None or database_for_model(target) == using:
                    unregistered.append(row.pk)
                else:
                    registered.append(
                        CrossDbReference(
                            source_table=table,
                            source_id=row.pk,
                            source_column=field.column,
                            target_db=database_for_model(target),
                            target_table=target._meta.db_table,
                            target_id=target_id,
                        )
                    )
            if unregistered:
                CrossDbReference.objects.using(using).filter(
                    source_table=table, source_column=field.column, source_id__in=unregistered
                ).delete()
            if registered:
                CrossDbReference.objects.using(using).bulk_create(
                    registered,
                    update_conflicts=True,
                    unique_fields=["source_table", "source_id", "source_column"],
                    update_fields=["target_db", "target_table", "target_id", "updated_at"],
                )


def record_table_references(model: type[models.Model], *, using: str | None = None) -> int:
    """`record_references` for every row of `model`'s table at once, in SQL: after a bulk load by
    raw SQL or COPY (the benchmark's data generator), where loading the rows into Python only to
    register them would cost more than the load.

    Per reference field, one upsert of the registry rows the column calls for (only targets in the
    other database, as `record_references` does) and one DELETE of the rows it no longer does;
    both in one transaction. Returns the number of registry rows written.
    """
    from breederhq.models import CrossDbReference

    using = using or database_for_model(model)
    registry = CrossDbReference._meta.db_table
    table, pk = model._meta.db_table, model._meta.pk.column
    written = 0
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for field in reference_fields(model):
            # (discriminator value or None, target database, target table) for the other database.
            targets = [
                (key, database_for_model(target), target._meta.db_table)
                for key, target in field.target_models().items()
                if database_for_model(target) != using
            ]
            if targets and field.is_polymorphic:
                discriminator = model._meta.get_field(field.discriminator).column
                whens = " ".join(f'WHEN "{discriminator}" = %s THEN %s' for _ in targets)
                target_db, target_table = f"CASE {whens} END", f"CASE {whens} END"
                params = [v for key, db, _ in targets for v in (key, db)] + [
                    v for key, _, tbl in targets for v in (key, tbl)
                ]
                selected = f'"{discriminator}" IN ({", ".join(["%s"] * len(targets))})'
                params_where = [key for key, _, _ in targets]
            elif targets:
                target_db, target_table, params, selected, params_where = "%s", "%s", list(targets[0][1:]), "TRUE", []
            if targets:
                cursor.execute(
                    f'INSERT INTO "{registry}" (source_table, source_id, source_column, target_db, target_table,'
                    f" target_id, created_at, updated_at)"
                    f' SELECT %s, "{pk}", %s, {target_db}, {target_table}, "{field.column}", now(), now()'
                    f' FROM "{table}" WHERE "{field.column}" IS NOT NULL AND {selected}'
                    f" ON CONFLICT (source_table, source_id, source_column) DO UPDATE SET"
                    f" target_db = EXCLUDED.target_db, target_table = EXCLUDED.target_table,"
                    f" target_id = EXCLUDED.target_id, updated_at = EXCLUDED.updated_at"
                    f" WHERE ({registry}.target_db, {registry}.target_table, {registry}.target_id)"
                    f" IS DISTINCT FROM (EXCLUDED.target_db, EXCLUDED.target_table, EXCLUDED.target_id)",
                    [table, field.column, *params, *params_where],
                )
                written += cursor.rowcount
            # Registry rows whose column no longer calls for one (empty, same database, row gone).
            keep = (f' AND "{field.column}" IS NOT NULL AND {selected}') if targets else " AND FALSE"
            cursor.execute(
                f'DELETE FROM "{registry}" r WHERE r.source_table = %s AND r.source_column = %s'
                f' AND NOT EXISTS (SELECT 1 FROM "{table}" s WHERE s."{pk}" = r.source_id{keep})',
                [table, field.column, *(params_where if targets else [])],
            )
    return written


def forget_references(model: type[models.Model], pks: Sequence[int], *, using: str) -> None:
    """Drop the registry rows of hard-deleted source rows (same transaction as the delete)."""
    from breederhq.models import CrossDbReference

    CrossDbReference.objects.using(using).filter(source_table=model._meta.db_table, source_id__in=list(pks)).delete()


def _forget_on_hard_delete(sender, instance, using, **kwargs):
    # post_delete runs inside the deletion's own transaction, for model.delete(), QuerySet.delete()
    # and cascades alike; connected only to models that declare references (see apps.py), so
    # every other model keeps Django's fast delete path.
    forget_references(sender, [instance.pk], using=using)


def connect_registry_signals() -> None:
    for model in models_with_references():
        post_delete.connect(_forget_on_hard_delete, sender=model, dispatch_uid=f"crossdb-forget-{model._meta.label}")


def _reference_columns(field: CrossDatabaseReference) -> set[str]:
    return {field.name, field.attname} | ({field.discriminator} if field.discriminator else set())


class CrossDatabaseReferencesQuerySet(models.QuerySet):
    """`bulk_create` records the new rows' references in the same transaction.

    `update()` does NOT: an update of a reference column must be followed by
    `record_references(rows, using=...)`, or crossdb_check reports the rows as unregistered.
    """

    def bulk_create(self, objs, *args, **kwargs):
        if not reference_fields(self.model):
            return super().bulk_create(objs, *args, **kwargs)
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            record_references(created, using=self.db)
        return created


CrossDatabaseReferencesManager = models.Manager.from_queryset(CrossDatabaseReferencesQuerySet)


class CrossDatabaseReferencesMixin(models.Model):
    """Records the model's declared references on every save, in the save's transaction.

    A model with the mixin but without `SoftDeleteModel` should declare
    `objects = CrossDatabaseReferencesManager()` so bulk_create registers too.
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        using = kwargs.get("using") or _database_of(self)
        update_fields = kwargs.get("update_fields")
        touched = reference_fields(type(self))
        if update_fields is not None:
            # A save that cannot have changed a reference (a soft delete, a status change) skips the
            # registry round trip.
            touched = [f for f in touched if _reference_columns(f) & set(update_fields)]
        if not touched:
            return super().save(*args, **kwargs)
        with transaction.atomic(using=using):
            super().save(*args, **kwargs)
            record_references(self, using=using)


# --- Batch resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedReference:
    """Where one row's reference points. `obj` is None when the target row does not exist at all
    (dangling or hard-deleted); a soft-deleted target is returned, with `is_deleted` True."""

    model: type[models.Model]
    id: int
    obj: models.Model | None

    @property
    def is_missing(self) -> bool:
        return self.obj is None

    @property
    def is_deleted(self) -> bool:
        return self.obj is not None and getattr(self.obj, "deleted_at", None) is not None


def _load_targets(model: type[models.Model], ids: set[int]) -> dict:
    """One query per target table; its latency is the cross-DB resolution metric."""
    from breederhq.observability.metrics import CROSSDB_RESOLUTION_SECONDS

    with CROSSDB_RESOLUTION_SECONDS.labels(model._meta.db_table).time():
        return model._base_manager.using(database_for_model(model)).in_bulk(sorted(ids))


def resolve(rows: Sequence[models.Model], field_name: str) -> list[ResolvedReference | None]:
    """The targets of `field_name` for a page of rows, in the rows' order (None where the column is
    empty or the discriminator is unknown).

    One query per target table, whatever the number of rows; soft-deleted targets included.
    """
    if not rows:
        return []
    field = type(rows[0])._meta.get_field(field_name)
    if not isinstance(field, CrossDatabaseReference):
        raise TypeError(f"{type(rows[0])._meta.label}.{field_name} is not a CrossDatabaseReference")
    wanted: dict[type[models.Model], set[int]] = defaultdict(set)
    targets: list[tuple[type[models.Model], int] | None] = []
    for row in rows:
        target_id = getattr(row, field.attname)
        model = field.target_model_for(row) if target_id is not None else None
        targets.append((model, target_id) if model is not None else None)
        if model is not None:
            wanted[model].add(target_id)
    loaded = {model: _load_targets(model, ids) for model, ids in wanted.items()}
    return [
        ResolvedReference(model=t[0], id=t[1], obj=loaded[t[0]].get(t[1])) if t is not None else None for t in targets
    ]


# --- Soft delete -----------------------------------------------------------------------------------


def referencing_rows(model: type[models.Model], pks: int | Iterable[int]) -> list[str]:
    """Rows, in any database, whose declared references point at `model` rows `pks`, described for
    an error message: the registry of both databases (cross-database links) and same-database
    declared references (which the registry does not hold)."""
    from breederhq.models import CrossDbReference

    pks = [pks] if isinstance(pks, int) else list(pks)
    described = []
    for alias in DATABASE_ALIASES:
        for ref in (
            CrossDbReference.objects.using(alias)
            .filter(target_table=model._meta.db_table, target_id__in=pks)
            .order_by("id")[:20]
        ):
            described.append(f"{alias}:{ref.source_table}#{ref.source_id}.{ref.source_column}")
    home = database_for_model(model)
    for source in models_with_references():
        if database_for_model(source) != home:
            continue
        for field in reference_fields(source):
            for key, target in field.target_models().items():
                if target is not model:
                    continue
                condition = {f"{field.attname}__in": pks}
                if key is not None:
                    condition[field.discriminator] = key
                for source_pk in source._base_manager.using(home).filter(**condition).values_list("pk", flat=True)[:20]:
                    described.append(f"{home}:{source._meta.db_table}#{source_pk}.{field.column}")
    return described


def _refuse_if_referenced(model: type[models.Model], pks: Iterable[int]) -> None:
    refs = referencing_rows(model, pks)
    if refs:
        raise ReferencedRowDeletion(
            f"Cannot hard-delete {model._meta.label} #{', #'.join(str(pk) for pk in pks)}: referenced by "
            f"{', '.join(refs)}. Soft-delete it instead; nothing was deleted.",
            extra={"referenced_by": refs},
        )


class SoftDeleteQuerySet(CrossDatabaseReferencesQuerySet):
    def delete(self):
        """Soft delete: sets deleted_at on every row that is not deleted yet."""
        return self.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())

    delete.queryset_only = True

    def hard_delete(self):
        """Really delete, refused (nothing deleted) when any of the rows is referenced."""
        with transaction.atomic(using=self.db):
            pks = list(self.select_for_update().values_list("pk", flat=True))
            _refuse_if_referenced(self.model, pks)
            return super().delete()

    hard_delete.queryset_only = True

    def restore(self):
        return self.filter(deleted_at__isnull=False).update(deleted_at=None)

    restore.queryset_only = True

    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)


class SoftDeleteManager(models.Manager.from_queryset(SoftDeleteQuerySet)):
    """The default manager: hides soft-deleted rows."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


AllObjectsManager = models.Manager.from_queryset(SoftDeleteQuerySet)


class SoftDeleteModel(models.Model):
    """A row the other database may point at: never lost, only marked deleted."""

    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = SoftDeleteManager()
    #: Every row, soft-deleted ones included (resolvers, admin, crossdb_check).
    all_objects = AllObjectsManager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def delete(self, using=None, keep_parents=False):
        if self.deleted_at is None:
            self.deleted_at = timezone.now()
            self.save(using=using, update_fields=["deleted_at"])
        return 0, {}

    def restore(self, using=None) -> None:
        self.deleted_at = None
        self.save(using=using, update_fields=["deleted_at"])

    def hard_delete(self, using=None):
        """Really delete, refused (nothing deleted) while any declared reference points here."""
        using = using or _database_of(self)
        with transaction.atomic(using=using):
            type(self)._base_manager.using(using).select_for_update().filter(pk=self.pk).exists()
            _refuse_if_referenced(type(self), [self.pk])
            return super().delete(using=using)
