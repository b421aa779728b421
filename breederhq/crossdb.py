"""Links between the two databases (DESIGN section 4): declared columns, a registry, soft delete.

A column that holds an id from the other database is declared in one line::

    provider_tenant_id = CrossDatabaseReference("tenant_app.Tenant", null=True)

and the model inherits `CrossDatabaseReferencesMixin`, whose `save()` records the link in
`cross_db_references` of the row's own database, in the same transaction as the row. Rows that the
other database refers to inherit `SoftDeleteModel`: `.delete()` and `QuerySet.delete()` only set
`deleted_at`, and `hard_delete()` is refused while anything still points at the row.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models, router, transaction
from django.utils import timezone

from breederhq.errors import ReferencedRowDeletion
from breederhq.routing import database_for_model
from config.database_routing import DATABASE_ALIASES

# --- Declared references ---------------------------------------------------------------------------


class CrossDatabaseReference(models.BigIntegerField):
    """A plain indexed BIGINT holding the id of a row in the other database. Never a foreign key.

    `target` is an "app_label.ModelName" string. In migrations it is a plain BigIntegerField: the
    declaration lives on the model, so renaming a target never needs a migration.
    """

    def __init__(self, target: str | None = None, *args, **kwargs):
        self.target = target
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.BigIntegerField", args, kwargs

    def target_model(self) -> type[models.Model]:
        return apps.get_model(self.target)


def reference_fields(model: type[models.Model]) -> list[CrossDatabaseReference]:
    return [f for f in model._meta.concrete_fields if isinstance(f, CrossDatabaseReference)]


def _database_of(instance: models.Model) -> str:
    return instance._state.db or router.db_for_write(type(instance), instance=instance)


def record_references(instance: models.Model, *, using: str) -> None:
    """Bring the registry rows for `instance` in line with its reference columns (same transaction)."""
    from breederhq.models import CrossDbReference

    table = instance._meta.db_table
    for field in reference_fields(type(instance)):
        target_id = getattr(instance, field.attname)
        registry = CrossDbReference.objects.using(using).filter(
            source_table=table, source_id=instance.pk, source_column=field.column
        )
        if target_id is None:
            registry.delete()
            continue
        target = field.target_model()
        CrossDbReference.objects.using(using).update_or_create(
            source_table=table,
            source_id=instance.pk,
            source_column=field.column,
            defaults={
                "target_db": database_for_model(target),
                "target_table": target._meta.db_table,
                "target_id": target_id,
            },
        )


class CrossDatabaseReferencesMixin(models.Model):
    """Records the model's declared cross-database references on every save, atomically."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        using = kwargs.get("using") or _database_of(self)
        with transaction.atomic(using=using):
            super().save(*args, **kwargs)
            record_references(self, using=using)


# --- Soft delete -----------------------------------------------------------------------------------


def referencing_rows(model: type[models.Model], pk: int) -> list[str]:
    """Registry rows, in any database, that point at (model, pk), described for an error message."""
    from breederhq.models import CrossDbReference

    described = []
    for alias in DATABASE_ALIASES:
        for ref in CrossDbReference.objects.using(alias).filter(
            target_table=model._meta.db_table, target_id=pk
        )[:20]:
            described.append(f"{alias}:{ref.source_table}#{ref.source_id}.{ref.source_column}")
    return described


class SoftDeleteQuerySet(models.QuerySet):
    def delete(self):
        """Soft delete: sets deleted_at on every row that is not deleted yet."""
        return self.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())

    delete.queryset_only = True

    def hard_delete(self):
        for pk in self.values_list("pk", flat=True):
            refs = referencing_rows(self.model, pk)
            if refs:
                raise ReferencedRowDeletion(
                    f"{self.model._meta.label} #{pk} is referenced by {', '.join(refs)}; "
                    f"it can only be soft-deleted."
                )
        return super().delete()

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
        refs = referencing_rows(type(self), self.pk)
        if refs:
            raise ReferencedRowDeletion(
                f"{self._meta.label} #{self.pk} is referenced by {', '.join(refs)}; it can only be "
                f"soft-deleted.",
                extra={"referenced_by": refs},
            )
        return super().delete(using=using)
