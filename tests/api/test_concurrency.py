"""Concurrent duplicates through a real endpoint: one effect, the other request replays or waits."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app.models import Invoice, Payment
from tenant_app.services import invoice_send
from tests.api.conftest import sign_in
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = [pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True), pytest.mark.slow]


def run_together(count: int, request) -> list:
    results, barrier = [None] * count, threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = request()
        finally:
            for alias in (TENANT_DB, MARKETPLACE_DB):
                connections[alias].close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_simultaneous_creates_with_one_key_make_one_invoice():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
    access = sign_in(tenant.owner_user)["access"]
    payload = json.dumps({"contact_id": contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 500}]})

    def create():
        response = Client(headers={"Authorization": f"Bearer {access}", "Idempotency-Key": "same"}).post(
            "/api/v1/invoices/", payload, content_type="application/json"
        )
        return response.status_code, response.get("Idempotent-Replayed")

    results = run_together(4, create)
    assert sorted(r[0] for r in results if r[1] is None)[:1] == [201]
    assert all(r in {(201, None), (201, "true"), (409, None)} for r in results), results
    assert sum(1 for r in results if r == (201, None)) == 1
    with tenant_context(tenant.pk):
        assert Invoice.objects.count() == 1


def test_simultaneous_mark_paid_at_one_version_pays_once():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        invoice_send(invoice_id=invoice.pk)
    access = sign_in(tenant.owner_user)["access"]
    payload = json.dumps({"action": "mark_paid", "version": 2, "method": "manual"})

    def pay():
        return (
            Client(headers={"Authorization": f"Bearer {access}"})
            .patch(f"/api/v1/invoices/{invoice.pk}/", payload, content_type="application/json")
            .status_code
        )

    results = run_together(4, pay)
    # The first takes the row lock and bumps the version; the others then see a stale version.
    assert sorted(results) == [200, 409, 409, 409]
    with tenant_context(tenant.pk):
        assert Payment.objects.filter(invoice_id=invoice.pk).count() == 1
        assert Invoice.objects.get(pk=invoice.pk).status == "paid"
