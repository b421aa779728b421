"""A payment mode change and an invoice creation racing through the API, each on its own HTTP client
and database connection: the invoice's `payment_mode_snapshot` is the mode in force when it commits
(both take the tenant row lock, so one waits for the other), and no invoice is made in Stripe mode
without an account that can take payments. Also: simultaneous onboarding requests make one account."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from payments_app.models import InvoicePayment, StripeConnectAccount
from tenant_app.models import Invoice, Tenant, TenantProfileAuditLog
from tests.api.conftest import sign_in
from tests.factories.tenant import ContactFactory, TenantFactory
from tests.payments_app.conftest import connect_account, every_row
from tests.tenant_app.test_concurrency import Worker, wait_until_a_session_waits_for_a_lock

pytestmark = [pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True), pytest.mark.slow]


def _client(access: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {access}"})


def race_on_the_tenant_row(tenant, *requests):
    """Every request is started while this test holds the tenant row locked; once all of them wait on
    the database they are let go together: the overlap is certain, the order is the database's."""
    workers = [Worker(request) for request in requests]
    with tenant_context(tenant.pk):
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        for worker in workers:
            worker.start()
        wait_until_a_session_waits_for_a_lock(expected=len(workers))
    return [worker.finish() for worker in workers]


def _setup(mode: str, *, account_status: str):
    tenant = TenantFactory(marketplace_payment_mode=mode)
    connect_account(tenant=tenant, status=account_status)
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
    return tenant, contact, sign_in(tenant.owner_user)["access"]


@pytest.mark.parametrize("round_", range(6))
def test_an_invoice_made_during_a_mode_change_has_the_mode_in_force_when_it_commits(round_):
    start, target = ("manual", "stripe") if round_ % 2 == 0 else ("stripe", "manual")
    tenant, contact, access = _setup(start, account_status="enabled")
    invoice_body = json.dumps(
        {"contact_id": contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 50_000}]}
    )

    def change_mode():
        response = _client(access).patch(
            "/api/v1/tenants/me/payment-settings/",
            json.dumps({"payment_mode": target, "version": 1}),
            content_type="application/json",
        )
        return response.status_code, json.loads(response.content)

    def create_invoice():
        response = _client(access).post("/api/v1/invoices/", invoice_body, content_type="application/json")
        return response.status_code, json.loads(response.content)

    (mode_status, _), (invoice_status, created) = race_on_the_tenant_row(tenant, change_mode, create_invoice)
    assert (mode_status, invoice_status) == (200, 201), created
    with tenant_context(tenant.pk):
        invoice = Invoice.objects.get(pk=created["id"])
        change = TenantProfileAuditLog.objects.get(tenant=tenant, changes__has_key="marketplace_payment_mode")
    # Both rows are written after their request took the tenant lock, so their times order the commits.
    in_force = target if change.created_at < invoice.created_at else start
    assert invoice.payment_mode_snapshot == in_force
    assert created["payment_mode_snapshot"] == in_force
    assert Tenant.objects.get(pk=tenant.pk).marketplace_payment_mode == target


@pytest.mark.parametrize("round_", range(3))
def test_no_invoice_is_made_in_stripe_mode_while_the_account_cannot_take_payments(round_):
    tenant, contact, access = _setup("manual", account_status="pending")
    invoice_body = json.dumps(
        {"contact_id": contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 50_000}]}
    )

    def change_mode():
        response = _client(access).patch(
            "/api/v1/tenants/me/payment-settings/",
            json.dumps({"payment_mode": "stripe", "version": 1}),
            content_type="application/json",
        )
        return response.status_code, json.loads(response.content).get("code")

    def create_invoice():
        response = _client(access).post("/api/v1/invoices/", invoice_body, content_type="application/json")
        return response.status_code, json.loads(response.content)

    refused, (invoice_status, created) = race_on_the_tenant_row(tenant, change_mode, create_invoice)
    assert refused == (409, "stripe_account_not_ready")
    assert invoice_status == 201
    tenant.refresh_from_db()
    assert (tenant.marketplace_payment_mode, tenant.version) == ("manual", 1)
    with tenant_context(tenant.pk):
        assert list(Invoice.objects.values_list("payment_mode_snapshot", flat=True)) == ["manual"]
        assert not TenantProfileAuditLog.objects.filter(changes__has_key="marketplace_payment_mode").exists()
    assert not every_row(InvoicePayment).filter(provider="stripe").exists()


def test_simultaneous_onboarding_requests_make_one_account(fake_stripe):
    tenant = TenantFactory()
    access = sign_in(tenant.owner_user)["access"]
    # Stripe takes its time: the requests overlap there too (the later ones hear
    # `idempotency_key_in_use` and are answered once the first one is done).
    fake_stripe.delay("POST", "/v1/accounts", 0.3)
    results, barrier = [None] * 4, threading.Barrier(4)

    def start(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            response = _client(access).post("/api/v1/tenants/me/stripe-account/onboarding/")
            results[index] = (response.status_code, json.loads(response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 200, 201], results
    assert len({data["stripe_account"]["stripe_account_id"] for _, data in results}) == 1
    assert len(fake_stripe.objects["accounts"]) == 1
    assert every_row(StripeConnectAccount).filter(owner_tenant=tenant).count() == 1
    assert len({r["idempotency_key"] for r in fake_stripe.requests_to("POST", "/v1/accounts")}) == 1
    connection.close()
