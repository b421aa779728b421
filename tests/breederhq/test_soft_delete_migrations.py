"""The soft-delete migrations of tenant users and marketplace invoices, run forward from the previous
schema with rows in it: the columns arrive empty (nothing rewritten or lost), the draft-or-void rule
ends validated, the partial index exists, and the rows are soft-deleted through the new path."""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_roles import grant_app_role, owner_credentials
from marketplace_app import services
from marketplace_app.models import MarketplaceInvoice
from tenant_app.models import User
from tests.factories.marketplace import ProviderFactory, make_transaction
from tests.factories.tenant import UserFactory

PREVIOUS = {
    TENANT_DB: ("tenant_app", "0015_invoice_documents"),
    MARKETPLACE_DB: ("marketplace_app", "0019_marketplace_invoice_refunds_by_stripe_refund_id"),
}


def _migrate(alias: str, target) -> None:
    with owner_credentials([alias]):
        executor = MigrationExecutor(connections[alias])
        app = PREVIOUS[alias][0]
        executor.migrate([target] if target != "latest" else executor.loader.graph.leaf_nodes(app))
        grant_app_role(using=alias)


def _columns(alias: str, table: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_forward_from_the_previous_schema_keeps_every_row_and_then_soft_deletes():
    user = UserFactory()
    tx = make_transaction(ProviderFactory(), amount_cents=2500)
    invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("Walk", 2500)])
    try:
        for alias, target in PREVIOUS.items():
            _migrate(alias, target)
        assert "deleted_at" not in _columns(TENANT_DB, "users")
        assert "deleted_at" not in _columns(MARKETPLACE_DB, "marketplace_invoices")
        with connections[MARKETPLACE_DB].cursor() as cursor:
            cursor.execute("SELECT status, total_cents FROM marketplace_invoices WHERE id = %s", [invoice.pk])
            assert cursor.fetchone() == ("draft", 2500)
    finally:
        for alias in PREVIOUS:
            _migrate(alias, "latest")
    assert User.objects.get(pk=user.pk).deleted_at is None
    assert MarketplaceInvoice.objects.get(pk=invoice.pk).deleted_at is None
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'marketplace_invoices_only_draft_or_void_deleted'"
        )
        assert cursor.fetchone() == (True,)
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'mkt_invoices_deleted'::regclass")
        assert cursor.fetchone() == (True,)
    user.delete()
    invoice.delete()
    assert User.objects.get(pk=user.pk).deleted_at is not None
    assert MarketplaceInvoice.all_objects.get(pk=invoice.pk).deleted_at is not None
