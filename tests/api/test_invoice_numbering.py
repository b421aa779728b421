"""Invoice numbers skip numbers already taken (imported invoices ahead of the numbering), and any
other unique-constraint refusal on an API write is a 409 problem, never a 500."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from breederhq.api.problems import problem_exception_handler
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceInvoice
from tenant_app.models import DocumentSequence, Invoice
from tests.api.conftest import bearer, body
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.api.test_marketplace_invoices import LINES
from tests.api.test_tenant_endpoints import new_invoice
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def test_a_tenant_whose_sequence_lags_behind_imported_invoices_gets_the_next_free_number(two_tenants):
    tenant, _ = two_tenants
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        imported = [make_invoice(contact=contact).invoice_number for _ in range(3)]
        # As after an import: the numbers exist, the sequence starts again from the beginning.
        DocumentSequence.objects.filter(tenant=tenant, kind="invoice").update(last_value=0)
    assert imported == ["INV-000001", "INV-000002", "INV-000003"]
    client = bearer(tenant.owner_user)

    first = new_invoice(client, contact.pk)
    second = new_invoice(client, contact.pk)

    assert (first.status_code, second.status_code) == (201, 201), first.content
    assert (body(first)["invoice_number"], body(second)["invoice_number"]) == ("INV-000004", "INV-000005")
    with tenant_context(tenant.pk):
        assert DocumentSequence.objects.get(tenant=tenant, kind="invoice").last_value == 5
        assert Invoice.all_objects.filter(tenant=tenant).count() == 5


def test_a_soft_deleted_invoice_keeps_its_number_out_of_reach(two_tenants):
    tenant, _ = two_tenants
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        make_invoice(contact=contact)
        make_invoice(contact=contact)  # INV-000002
        Invoice.objects.filter(invoice_number="INV-000002").delete()
        DocumentSequence.objects.filter(tenant=tenant, kind="invoice").update(last_value=1)
    created = new_invoice(bearer(tenant.owner_user), contact.pk)
    assert (created.status_code, body(created)["invoice_number"]) == (201, "INV-000003"), created.content


def test_a_provider_whose_imported_numbers_run_ahead_gets_the_next_free_number():
    provider_login, provider = provider_with_login()
    _, buyer = person()
    client = bearer(provider_login)
    first_tx, second_tx, third_tx = (make_transaction(provider, buyer, amount_cents=8000) for _ in range(3))
    created = client.post(
        "/api/v1/marketplace/invoices/",
        {"transaction_id": first_tx.pk, "line_items": LINES},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    # An imported invoice numbered ahead of the provider's count (the count gives 2 next).
    MarketplaceInvoice.all_objects.using(MARKETPLACE_DB).filter(pk=body(created)["id"]).update(
        invoice_number=f"MP-{provider.pk}-000002"
    )

    numbers = []
    for tx in (second_tx, third_tx):
        response = client.post(
            "/api/v1/marketplace/invoices/",
            {"transaction_id": tx.pk, "line_items": LINES},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        numbers.append(body(response)["number"])
    assert numbers == [f"MP-{provider.pk}-000003", f"MP-{provider.pk}-000004"]


def test_a_unique_constraint_refusal_is_a_409_problem_naming_the_constraint(two_tenants):
    tenant, _ = two_tenants
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        with pytest.raises(IntegrityError) as refused, transaction.atomic(using=TENANT_DB):
            Invoice.objects.filter(pk=make_invoice(contact=invoice.contact).pk).update(
                invoice_number=invoice.invoice_number
            )
    response = problem_exception_handler(refused.value, {})
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.data["code"] == "already_exists"
    assert response.data["constraint"] == "invoices_number_unique_per_tenant"
    assert "nothing was saved" in response.data["detail"]
