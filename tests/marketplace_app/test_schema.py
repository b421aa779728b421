"""Schema requirements (indexes, constraints), read back from PostgreSQL's catalogue."""

import pytest
from django.db import IntegrityError, connections, transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import MarketplaceTransaction
from tests.factories.marketplace import ProviderFactory, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def indexes(table: str) -> dict[str, str]:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def column_type(table: str, column: str) -> str:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [table, column],
        )
        return cursor.fetchone()[0]


def test_review_composite_indexes_exist():
    tx = indexes("marketplace_transactions")
    assert tx["mkt_tx_provider_status_created"].endswith("(provider_id, status, created_at DESC)")
    assert tx["mkt_tx_client_status_created"].endswith("(client_id, status, created_at DESC)")
    assert indexes("messages")["messages_thread_created"].endswith(
        "(thread_id, created_at DESC, id DESC) INCLUDE (read_at)"
    )
    assert indexes("service_listings")["service_listings_active_search"].endswith(
        "(category, state, city) WHERE ((status)::text = 'active'::text)"
    )
    assert indexes("marketplace_invoices")["mkt_invoices_tx_status"].endswith("(transaction_id, status)")


def test_listing_gin_indexes_and_a_single_slug_index():
    listing = indexes("service_listings")
    assert "USING gin (category_metadata)" in listing["service_listings_metadata_gin"]
    assert listing["listings_search_document_gin"].endswith(
        "USING gin (((search_vector || array_to_tsvector(ARRAY[('category='::text || (category)::text), "
        "('state='::text || (state)::text), ('city='::text || (city)::text)])))) WITH (fastupdate=off)"
    )
    # The text-only index it replaces stays one release, for the previous release's processes.
    assert "USING gin (search_vector)" in listing["service_listings_search_gin"]
    slug_indexes = [name for name, definition in listing.items() if "(slug" in definition]
    assert slug_indexes == ["service_listings_slug_unique"]


def test_high_volume_ids_are_bigint_and_partitioned_messages():
    for table in ("marketplace_transactions", "messages", "message_threads", "message_archive"):
        assert column_type(table, "id") == "bigint", table
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'messages'")
        assert cursor.fetchone() == ("p",)
        cursor.execute(
            "SELECT col_description('marketplace_transactions'::regclass, "
            "(SELECT attnum FROM pg_attribute WHERE attrelid = 'marketplace_transactions'::regclass "
            "AND attname = 'invoice_id'))"
        )
        assert "invoice_type" in cursor.fetchone()[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"invoice_type": "stripe", "invoice_id": 1},
        {"invoice_type": "tenant", "invoice_id": None},
        {"invoice_type": None, "invoice_id": 5},
        {"status": "invoiced"},
        {"status": "lost"},
    ],
)
def test_transaction_invoice_checks(changes):
    tx = make_transaction(ProviderFactory())
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceTransaction.objects.filter(pk=tx.pk).update(**changes)
    tx.refresh_from_db()
    assert (tx.status, tx.invoice_type, tx.invoice_id) == ("pending_invoice", None, None)


def test_breeder_needs_a_tenant_and_service_provider_has_none():
    for fields in ({"breeder": True, "tenant_id": None}, {"tenant_id": 3}):
        with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
            ProviderFactory(**fields)
