"""Every model's table is in exactly the database(s) the routing table names, and nowhere else."""

import pytest
from django.apps import apps
from django.db import connections

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.routing import DatabaseRouter, UnroutedModelError, database_for_app, databases_holding
from config.database_routing import APP_DATABASES, EVERY_DATABASE

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def tables_in(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type IN ('BASE TABLE', 'VIEW')"
        )
        return {name for (name,) in cursor.fetchall()}


def test_every_installed_app_is_in_the_routing_table():
    labels = {config.label for config in apps.get_app_configs()}
    assert labels - set(APP_DATABASES) == set()


def test_each_model_table_exists_where_the_routing_table_says_and_nowhere_else():
    present = {alias: tables_in(alias) for alias in DATABASE_ALIASES}
    models = [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]
    assert models, "no models found"
    for model in models:
        table = model._meta.db_table
        expected = set(databases_holding(model))
        found = {alias for alias in DATABASE_ALIASES if table in present[alias]}
        assert found == expected, f"{model._meta.label} ({table}) is in {found}, expected {expected}"


def test_no_database_holds_a_table_no_model_routes_there():
    models = [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]
    for alias in DATABASE_ALIASES:
        routed = {m._meta.db_table for m in models if alias in databases_holding(m)}
        unexpected = tables_in(alias) - routed - {"django_migrations"}
        # Partitions and archive tables are created by SQL, not models; they carry their parent's
        # prefix and are checked by the apps that own them.
        assert {t for t in unexpected if "_p20" not in t and not t.endswith("_default")} == set(), alias


def test_an_app_missing_from_the_table_is_refused_loudly():
    with pytest.raises(UnroutedModelError, match="not in config.database_routing"):
        database_for_app("someone_elses_app")


def test_user_model_routes_to_the_tenant_database():
    user_model = apps.get_model("tenant_app", "User")
    router = DatabaseRouter()
    assert router.db_for_read(user_model) == TENANT_DB
    assert router.db_for_write(user_model) == TENANT_DB
    assert router.allow_migrate(TENANT_DB, "tenant_app") is True
    assert router.allow_migrate(MARKETPLACE_DB, "tenant_app") is False
    assert router.allow_migrate(MARKETPLACE_DB, "marketplace_app") is True
    assert router.allow_migrate(TENANT_DB, "marketplace_app") is False


def test_per_database_core_migrates_into_both():
    router = DatabaseRouter()
    assert APP_DATABASES["breederhq"] == EVERY_DATABASE
    assert all(router.allow_migrate(alias, "breederhq") for alias in DATABASE_ALIASES)


def test_relations_across_databases_are_refused():
    user_model = apps.get_model("tenant_app", "User")
    router = DatabaseRouter()
    tenant_side = user_model(username="a")
    tenant_side._state.db = TENANT_DB
    other = user_model(username="b")
    other._state.db = MARKETPLACE_DB
    assert router.allow_relation(tenant_side, other) is False
    other._state.db = TENANT_DB
    assert router.allow_relation(tenant_side, other) is True


def test_per_database_proxies_route_to_their_database():
    from breederhq.models import MarketplaceDbOutboundEmail, OutboundEmail, TenantDbOutboundEmail

    router = DatabaseRouter()
    assert router.db_for_read(TenantDbOutboundEmail) == TENANT_DB
    assert router.db_for_write(MarketplaceDbOutboundEmail) == MARKETPLACE_DB
    with pytest.raises(UnroutedModelError, match="name one with .using"):
        router.db_for_read(OutboundEmail)
