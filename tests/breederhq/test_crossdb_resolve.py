"""Batch resolution: one query per target table whatever the page size; soft-deleted targets are
returned and marked; missing targets are reported as missing."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from breederhq.crossdb import resolve
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from tests.crossdb_app.factories import (
    ContactFactory,
    InvoiceFactory,
    MarketplaceInvoiceFactory,
    MemberFactory,
    TransactionFactory,
)
from tests.crossdb_app.marketplace_side.models import MarketplaceInvoice, Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def queries_per_database(call):
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in DATABASE_ALIASES}
    for context in contexts.values():
        context.__enter__()
    try:
        result = call()
    finally:
        for context in contexts.values():
            context.__exit__(None, None, None)
    return result, {alias: len(context) for alias, context in contexts.items()}


def test_resolution_returns_targets_in_row_order_with_soft_deleted_and_missing_marked():
    alive, deleted = MemberFactory(), MemberFactory()
    deleted.delete()
    contacts = [
        ContactFactory(marketplace_member_id=alive.pk),
        ContactFactory(marketplace_member_id=None),
        ContactFactory(marketplace_member_id=deleted.pk),
        ContactFactory(marketplace_member_id=10**12),
    ]
    resolved = resolve(contacts, "marketplace_member_id")
    assert resolved[1] is None
    assert [
        (r.model, r.id, r.obj.pk if r.obj else None, r.is_deleted, r.is_missing)
        for r in (resolved[0], resolved[2], resolved[3])
    ] == [
        (Member, alive.pk, alive.pk, False, False),
        (Member, deleted.pk, deleted.pk, True, False),
        (Member, 10**12, None, False, True),
    ]
    assert resolved[0].obj._state.db == MARKETPLACE_DB


def test_polymorphic_resolution_loads_each_target_table_from_its_own_database():
    tenant_invoice = InvoiceFactory()
    marketplace_invoice = MarketplaceInvoiceFactory()
    rows = [
        TransactionFactory(invoice_type="tenant", invoice_id=tenant_invoice.pk),
        TransactionFactory(invoice_type="marketplace", invoice_id=marketplace_invoice.pk),
        TransactionFactory(invoice_type="bogus", invoice_id=1),
    ]
    resolved, queries = queries_per_database(lambda: resolve(rows, "invoice_id"))
    assert queries == {TENANT_DB: 1, MARKETPLACE_DB: 1}
    assert [(r.model, r.obj.pk) for r in resolved[:2]] == [
        (Invoice, tenant_invoice.pk),
        (MarketplaceInvoice, marketplace_invoice.pk),
    ]
    assert resolved[2] is None


def test_resolving_a_field_that_is_not_a_reference_is_refused():
    with pytest.raises(TypeError, match="not a CrossDatabaseReference"):
        resolve([ContactFactory()], "name")
    assert resolve([], "marketplace_member_id") == []


@pytest.mark.parametrize("size", [1, 10, 100])
def test_resolving_a_page_of_contacts_costs_one_query_whatever_its_size(size):
    members = Member.objects.using(MARKETPLACE_DB).bulk_create(
        [Member(email=f"m{i}@example.test") for i in range(size)]
    )
    Contact.objects.using(TENANT_DB).bulk_create(
        [Contact(name=f"c{i}", marketplace_member_id=m.pk) for i, m in enumerate(members)]
    )
    page = list(Contact.objects.using(TENANT_DB).order_by("pk"))
    resolved, queries = queries_per_database(lambda: resolve(page, "marketplace_member_id"))
    assert queries == {TENANT_DB: 0, MARKETPLACE_DB: 1}
    assert [r.obj.pk for r in resolved] == [m.pk for m in members]


@pytest.mark.parametrize("size", [1, 10, 100])
def test_resolving_a_page_of_mixed_transactions_costs_one_query_per_database_whatever_its_size(size):
    tenant = Invoice.objects.using(TENANT_DB).bulk_create([Invoice() for _ in range(size)])
    marketplace = MarketplaceInvoice.objects.using(MARKETPLACE_DB).bulk_create(
        [MarketplaceInvoice() for _ in range(size)]
    )
    # Both kinds in every page, so both target tables are always loaded (size 1: one of each).
    Transaction.objects.using(MARKETPLACE_DB).bulk_create(
        [Transaction(invoice_type="tenant", invoice_id=i.pk) for i in tenant]
        + [Transaction(invoice_type="marketplace", invoice_id=i.pk) for i in marketplace]
    )
    page = list(Transaction.objects.using(MARKETPLACE_DB).order_by("pk"))
    resolved, queries = queries_per_database(lambda: resolve(page, "invoice_id"))
    assert queries == {TENANT_DB: 1, MARKETPLACE_DB: 1}
    assert [r.obj.pk for r in resolved] == [i.pk for i in tenant] + [i.pk for i in marketplace]
