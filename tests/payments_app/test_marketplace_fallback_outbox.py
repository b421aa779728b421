"""A marketplace invoice that falls back from Stripe to manual payment gets its visible flag (a row in
the tenant database) through the outbox, never from the request: the invoice is created whatever the
tenant database does at that moment, and the flag is written exactly once by the relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.models import OutboxMessage
from breederhq.outbox import outbox_relay_due
from marketplace_app.models import MarketplaceInvoice
from payments_app import collection
from payments_app.models import InvoicePayment
from payments_app.stripe_gateway import stripe_breaker
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.payments_app.conftest import connect_account, every_row

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def test_a_tenant_database_error_does_not_fail_a_created_marketplace_invoice(fake_stripe, monkeypatch):
    login, provider = provider_with_login(payment_mode="stripe")
    connect_account(provider=provider)
    stripe_breaker().open()
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=8_000)
    record = collection.invoice_payment_record_fallback

    def tenant_database_down(**kwargs):
        raise OperationalError("the tenant database is unreachable")

    monkeypatch.setattr(collection, "invoice_payment_record_fallback", tenant_database_down)
    created = send_json(
        bearer(login),
        "post",
        "/api/v1/marketplace/invoices/",
        {"transaction_id": tx.pk, "line_items": [{"description": "Groom", "unit_price_cents": 8_000, "quantity": 1}]},
    )
    assert created.status_code == 201, created.content
    invoice = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=body(created)["id"])
    assert invoice.payment_mode_snapshot == "manual"
    message = OutboxMessage.objects.using(MARKETPLACE_DB).get(topic="payments.record_fallback")
    assert message.payload["invoice_id"] == invoice.pk

    outbox_relay_due()  # the tenant database still fails: the message stays, to be retried
    assert not every_row(InvoicePayment).exists()
    monkeypatch.setattr(collection, "invoice_payment_record_fallback", record)
    outbox_relay_due(now=timezone.now() + timedelta(days=1))
    outbox_relay_due(now=timezone.now() + timedelta(days=2))
    flag = every_row(InvoicePayment).get()
    assert (flag.invoice_kind, flag.invoice_id, flag.provider, flag.fallback_reason) == (
        "marketplace",
        invoice.pk,
        "manual",
        "breaker_open",
    )
