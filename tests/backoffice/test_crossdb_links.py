"""Cross-database references are links to the other database's admin page, resolved in batch: a
changelist runs the same number of queries on each database for 1, 10 or 50 rows."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services as mp
from tests.backoffice.conftest import work_on
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def _count(client, url) -> tuple[dict[str, int], str]:
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        response = client.get(url)
    assert response.status_code == 200
    return {TENANT_DB: len(tenant_db), MARKETPLACE_DB: len(marketplace_db)}, response.content.decode()


def test_transactions_link_their_tenant_invoices_in_constant_queries(superuser_client):
    tenant = TenantFactory()
    provider = ProviderFactory(breeder=True, tenant_id=tenant.pk)
    url = reverse("admin:marketplace_app_marketplacetransaction_changelist")
    work_on(superuser_client, tenant)
    counts = {}
    made = 0
    for size in (1, 10, 50):
        with tenant_context(tenant.pk):
            contact = ContactFactory(tenant=tenant)
            invoices = [make_invoice(contact=contact, amounts=(1_000 + i,)) for i in range(size - made)]
        for invoice in invoices:
            tx = make_transaction(provider)
            mp.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
        made = size
        counts[size], body = _count(superuser_client, url)
        assert body.count(reverse("admin:tenant_app_invoice_change", args=[invoices[-1].pk])) == 1
    assert counts[1] == counts[10] == counts[50], counts


def test_contacts_link_their_marketplace_users_in_constant_queries(superuser_client):
    tenant = TenantFactory()
    url = reverse("admin:tenant_app_contact_changelist")
    work_on(superuser_client, tenant)
    counts = {}
    made = 0
    for size in (1, 10, 50):
        users = [MarketplaceUserFactory() for _ in range(size - made)]
        with tenant_context(tenant.pk):
            for user in users:
                ContactFactory(tenant=tenant, marketplace_user_id=user.pk)
        made = size
        counts[size], body = _count(superuser_client, url)
        assert reverse("admin:marketplace_app_marketplaceuser_change", args=[users[-1].pk]) in body
    assert counts[1] == counts[10] == counts[50], counts


def test_a_soft_deleted_target_is_marked_and_a_missing_one_named(superuser_client):
    tenant = TenantFactory()
    gone = MarketplaceUserFactory(display_name="Gone Buyer")
    gone.delete(using=MARKETPLACE_DB)
    with tenant_context(tenant.pk):
        ContactFactory(tenant=tenant, marketplace_user_id=gone.pk)
        ContactFactory(tenant=tenant, marketplace_user_id=987_654)
    work_on(superuser_client, tenant)
    body = superuser_client.get(reverse("admin:tenant_app_contact_changelist")).content.decode()
    assert f"Gone Buyer (marketplace user #{gone.pk}) [deleted]" in body
    assert "marketplace user #987654 (missing)" in body


def test_a_tenant_invoice_of_another_tenant_is_not_shown(superuser_client):
    tenant, other = TenantFactory(), TenantFactory()
    provider = ProviderFactory(breeder=True, tenant_id=other.pk)
    with tenant_context(other.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=other))
    tx = make_transaction(provider)
    mp.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    work_on(superuser_client, tenant)
    body = superuser_client.get(reverse("admin:marketplace_app_marketplacetransaction_changelist")).content.decode()
    assert f"invoice #{invoice.pk} (other tenant or missing)" in body
    assert invoice.invoice_number not in body


def test_the_change_page_links_the_invoice_of_the_tenant_being_worked_on(superuser_client):
    tenant = TenantFactory()
    provider = ProviderFactory(breeder=True, tenant_id=tenant.pk)
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
    tx = make_transaction(provider)
    mp.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    url = reverse("admin:marketplace_app_marketplacetransaction_change", args=[tx.pk])
    assert invoice.invoice_number not in superuser_client.get(url).content.decode()  # no tenant chosen: hidden
    work_on(superuser_client, tenant)
    body = superuser_client.get(url).content.decode()
    assert reverse("admin:tenant_app_invoice_change", args=[invoice.pk]) in body
    assert f"{invoice.invoice_number} (invoice #{invoice.pk})" in body
