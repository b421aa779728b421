"""Every list endpoint runs the same number of queries on each database at page sizes 1, 10, 100."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Contact, Payment, TenantMembership
from tests.api.conftest import bearer, body
from tests.factories.marketplace import MarketplaceUserFactory
from tests.factories.tenant import ContactFactory, UserFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
ROWS = 105


@pytest.fixture(autouse=True)
def steady_session_check(settings):
    """Reads re-check a token's revocation at most every API_REVOCATION_CACHE_SECONDS (1): one query
    whenever that runs out. Longer here, so that a slow run does not count it in one page size only."""
    settings.API_REVOCATION_CACHE_SECONDS = 60


def counts(client, url: str, page_size: int, **params) -> tuple[int, int]:
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        response = client.get(url, {"page_size": page_size, **params})
    assert response.status_code == 200, response.content
    assert len(body(response)["results"]) == page_size
    return len(tenant_db), len(marketplace_db)


def assert_constant(client, url: str, **params) -> None:
    # Warm: the first read of a login also fills the per-process identity cache (one query per
    # database, breederhq.api.identity_cache); what must not grow with the rows is the steady state.
    counts(client, url, 1, **params)
    per_size = {size: counts(client, url, size, **params) for size in (1, 10, 100)}
    assert len(set(per_size.values())) == 1, per_size


@pytest.fixture
def tenant_with_rows(two_tenants):
    a, _ = two_tenants
    people = MarketplaceUserFactory.create_batch(ROWS)
    with tenant_context(a.pk):
        contacts = ContactFactory.create_batch(ROWS, tenant=a)
        for contact, person in zip(contacts, people, strict=True):
            contact.marketplace_user_id = person.pk  # every row resolves across databases
            contact.save()
        invoices = [make_invoice(contact=contacts[i % 7]) for i in range(ROWS)]
        Payment.objects.bulk_create(
            [
                Payment(
                    tenant_id=a.pk,
                    invoice=invoice,
                    kind="payment",
                    method="manual",
                    amount_cents=100,
                    currency="USD",
                    idempotency_key=f"qc-{invoice.pk}",
                )
                for invoice in invoices
            ]
        )
        assert Contact.objects.count() == ROWS
    return a


@pytest.mark.parametrize(
    "url, params",
    [
        ("/api/v1/contacts/", {}),
        ("/api/v1/invoices/", {}),
        ("/api/v1/invoices/", {"status": "draft", "ordering": "-total_cents"}),
        ("/api/v1/payments/", {}),
    ],
)
def test_tenant_lists_run_constant_queries_per_database(tenant_with_rows, url, params):
    assert_constant(bearer(tenant_with_rows.owner_user), url, **params)


def test_the_contact_list_resolves_marketplace_people_in_one_query(tenant_with_rows):
    _, marketplace = counts(bearer(tenant_with_rows.owner_user), "/api/v1/contacts/", 100)
    assert marketplace == 1


def test_the_membership_list_runs_constant_queries(two_tenants):
    a, _ = two_tenants
    users = UserFactory.create_batch(ROWS)
    with tenant_context(a.pk):
        TenantMembership.objects.bulk_create([TenantMembership(tenant=a, user=user, role="staff") for user in users])
    assert_constant(bearer(a.owner_user), "/api/v1/tenants/me/memberships/")


def test_the_refund_list_runs_constant_queries(two_tenants):
    a, _ = two_tenants
    with tenant_context(a.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=a), amounts=(ROWS * 100,))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="all")
        for index in range(ROWS):
            services.invoice_refund(
                invoice_id=invoice.pk,
                amount_cents=100,
                reason=f"part {index}",
                idempotency_key=f"part-{index}",
                actor=a.owner_user,
            )
    assert_constant(bearer(a.owner_user), f"/api/v1/invoices/{invoice.pk}/refunds/")
