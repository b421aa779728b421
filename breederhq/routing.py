"""The database router: reads `config.database_routing.APP_DATABASES` and nothing else."""

from __future__ import annotations

from django.db import models

from breederhq.databases import DATABASE_ALIASES
from config.database_routing import APP_DATABASES, EVERY_DATABASE


class UnroutedModelError(LookupError):
    """A model whose app is missing from the routing table, or a per-database model used without
    naming the database."""


def database_for_app(app_label: str) -> str:
    try:
        return APP_DATABASES[app_label]
    except KeyError:
        raise UnroutedModelError(
            f"App '{app_label}' is not in config.database_routing.APP_DATABASES; add it there "
            f"with the database its tables belong to."
        ) from None


def database_for_model(model: type[models.Model]) -> str:
    # A proxy of a per-database core model may pin one database (`database_alias = "marketplace"`),
    # so the admin can list each database's rows through its own model class.
    return getattr(model, "database_alias", None) or database_for_app(model._meta.app_label)


def databases_holding(model: type[models.Model]) -> tuple[str, ...]:
    """Every database alias that has this model's table."""
    alias = database_for_model(model)
    return DATABASE_ALIASES if alias == EVERY_DATABASE else (alias,)


class DatabaseRouter:
    def _route(self, model, **hints) -> str:
        alias = database_for_model(model)
        if alias != EVERY_DATABASE:
            return alias
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db
        raise UnroutedModelError(
            f"{model._meta.label} exists in every database; name one with .using(alias) or save(using=alias)."
        )

    def db_for_read(self, model, **hints):
        return self._route(model, **hints)

    def db_for_write(self, model, **hints):
        return self._route(model, **hints)

    def allow_relation(self, obj1, obj2, **hints):
        # Foreign keys cannot cross databases; cross-database links are declared references,
        # never relations.
        return self._database_of(obj1) == self._database_of(obj2)

    @staticmethod
    def _database_of(obj) -> str | None:
        if obj._state.db:
            return obj._state.db
        alias = database_for_model(type(obj))
        return None if alias == EVERY_DATABASE else alias

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        alias = database_for_app(app_label)
        return alias == EVERY_DATABASE or alias == db
