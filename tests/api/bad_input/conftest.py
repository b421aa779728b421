"""What the bad-input tests share: the problem+json media type, and `world` (a tenant with an invoice, a
marketplace provider with a listing, a thread and invoices: an id for every list and detail URL)."""

from __future__ import annotations

import pytest

from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from tests.api.conftest import bearer
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

PROBLEM = "application/problem+json"


@pytest.fixture
def world():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        invoice = make_invoice(contact=contact)
    identity = MarketplaceUserFactory(kind="breeder", tenant_user_id=tenant.owner_user.pk)
    provider = ProviderFactory(user=identity, breeder=True, tenant_id=tenant.pk)
    make_listing(provider, slug="goldens")
    make_transaction(provider)
    thread = marketplace_services.message_thread_open(
        buyer_id=MarketplaceUserFactory().pk, provider_id=provider.pk, body="Hello"
    )
    # A marketplace invoice the owner's identity is the buyer of (a groomer, not a breeder, bills
    # with marketplace invoices): its timeline is one of the lists.
    sale = make_transaction(ProviderFactory(), identity)
    marketplace_invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=sale.pk, line_items=[marketplace_services.LineItem("Grooming", 100)]
    )
    ids = {"invoice_id": invoice.pk, "thread_id": thread.pk, "marketplace_invoice_id": marketplace_invoice.pk}
    return {"client": bearer(tenant.owner_user), "ids": ids, "tenant": tenant, "contact": contact, "provider": provider}
