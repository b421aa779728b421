"""Migrations never block or rewrite a large table once it exists (expand/contract).

On a table that already holds data, an index must be built CONCURRENTLY (Django's
AddIndexConcurrently in a non-atomic migration) and a column's type must not change in place
(add a new column, backfill, switch, drop: see docs/operations/runbook.md#safe-migrations).
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations
from django.db.migrations.loader import MigrationLoader

#: Tables expected to grow large in production (listed in docs/operations/runbook.md#safe-migrations).
LARGE_MODELS = {
    ("tenant_app", "contact"),
    ("tenant_app", "invoice"),
    ("tenant_app", "invoicelineitem"),
    ("tenant_app", "payment"),
    ("tenant_app", "invoiceauditlog"),
    ("marketplace_app", "message"),
    ("marketplace_app", "marketplacetransaction"),
    ("marketplace_app", "servicelisting"),
    ("marketplace_app", "messagethread"),
    ("marketplace_app", "marketplaceinvoice"),
    ("payments_app", "stripewebhookevent"),
    ("breederhq", "outboundemail"),
    ("breederhq", "crossdbreference"),
    ("breederhq", "outboxmessage"),
}
OUR_APPS = {"tenant_app", "marketplace_app", "payments_app", "breederhq", "jobs"}


def blocking_operations() -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    created: set[tuple[str, str]] = set()
    problems = []
    order = [key for key in _topological(loader) if key[0] in OUR_APPS]
    for app_label, name in order:
        migration = loader.graph.nodes[(app_label, name)]
        existing = set(created)  # tables from *earlier* migrations may hold data by now
        for operation in migration.operations:
            if isinstance(operation, migrations.CreateModel):
                created.add((app_label, operation.name_lower))
            problems += _check(app_label, name, migration, operation, existing)
    return problems


def _topological(loader):
    seen, order = set(), []
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                order.append(key)
    return order


def _check(app_label, name, migration, operation, created) -> list[str]:
    where = f"{app_label}.{name}"
    if isinstance(operation, migrations.CreateModel):
        return []
    if isinstance(operation, migrations.SeparateDatabaseAndState):
        return [p for op in operation.database_operations for p in _check(app_label, name, migration, op, created)]
    model = getattr(operation, "model_name_lower", None) or getattr(operation, "model_name", "").lower()
    if (app_label, model) not in LARGE_MODELS or (app_label, model) not in created:
        return []  # a table created in this same history before any data exists, or a small one
    if isinstance(operation, (AddIndexConcurrently, RemoveIndexConcurrently)):
        return [] if not migration.atomic else [f"{where}: concurrent index operations need atomic = False"]
    if isinstance(operation, migrations.AddIndex):
        return [f"{where}: AddIndex on existing large table {model}: use AddIndexConcurrently (atomic = False)"]
    if isinstance(operation, migrations.AddConstraint) and isinstance(operation.constraint, models_unique()):
        return [f"{where}: unique constraint on existing large table {model} builds an index under lock"]
    if isinstance(operation, migrations.AlterField):
        return [f"{where}: AlterField on existing large table {model} may rewrite it: expand/contract instead"]
    return []


def models_unique():
    from django.db.models import UniqueConstraint

    return UniqueConstraint


def test_no_migration_blocks_or_rewrites_a_large_table():
    assert blocking_operations() == []


def test_the_scanner_catches_a_blocking_index():
    from django.db import models

    created = {("tenant_app", "invoice")}
    blocking = migrations.AddIndex("invoice", models.Index(fields=["status"], name="inv_status_idx"))
    migration = migrations.Migration("0099_bad", "tenant_app")
    assert _check("tenant_app", "0099_bad", migration, blocking, created) == [
        "tenant_app.0099_bad: AddIndex on existing large table invoice: use AddIndexConcurrently (atomic = False)"
    ]
    concurrent = AddIndexConcurrently("invoice", models.Index(fields=["status"], name="inv_status_idx"))
    migration.atomic = False
    assert _check("tenant_app", "0099_bad", migration, concurrent, created) == []
    rewrite = migrations.AlterField("invoice", "total_cents", models.DecimalField(max_digits=12, decimal_places=2))
    assert "may rewrite it" in _check("tenant_app", "0099_bad", migration, rewrite, created)[0]
