"""The invoice-core migrations of the marketplace database, run forward from the previous schema with
invoices in it: nothing is rewritten or lost (the number column keeps its name), and the invoices
carry on through the core afterwards, now with an audit trail."""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_roles import grant_app_role, owner_credentials
from marketplace_app import services
from marketplace_app.models import MarketplaceInvoice, MarketplaceInvoiceAuditLog
from tests.factories.marketplace import ProviderFactory, make_transaction

PREVIOUS = ("marketplace_app", "0010_money_amount_bounds")


def _migrate(target) -> None:
    with owner_credentials([MARKETPLACE_DB]):
        executor = MigrationExecutor(connections[MARKETPLACE_DB])
        executor.migrate([target] if target != "latest" else executor.loader.graph.leaf_nodes("marketplace_app"))
        grant_app_role(using=MARKETPLACE_DB)


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_forward_from_the_previous_schema_keeps_every_invoice():
    provider = ProviderFactory()
    tx = make_transaction(provider, amount_cents=2500)
    invoice = services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[services.LineItem("Walk", 1000), services.LineItem("Bath", 750, 2)]
    )
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    try:
        _migrate(PREVIOUS)
        with connections[MARKETPLACE_DB].cursor() as cursor:
            cursor.execute("SELECT number, status, version FROM marketplace_invoices WHERE id = %s", [invoice.pk])
            assert cursor.fetchone() == (invoice.invoice_number, "sent", 2)
            cursor.execute("SELECT to_regclass('marketplace_invoice_audit_log')")
            assert cursor.fetchone() == (None,)
    finally:
        _migrate("latest")
    stored = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk)
    assert (stored.invoice_number, stored.number, stored.status, stored.version, stored.total_cents) == (
        f"MP-{provider.pk}-000001",
        f"MP-{provider.pk}-000001",
        "sent",
        2,
        2500,
    )
    assert [(line.quantity, line.total_cents) for line in stored.line_items.all()] == [(1, 1000), (2, 1500)]
    services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=2)
    assert list(
        MarketplaceInvoiceAuditLog.objects.using(MARKETPLACE_DB)
        .filter(invoice_id=invoice.pk)
        .values_list("action", flat=True)
    ) == ["voided"]
