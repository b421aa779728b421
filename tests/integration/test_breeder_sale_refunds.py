"""A breeder's refund of a marketplace sale's tenant invoice reaches the sale (the buyer's purchase)
through the outbox (`tenant.invoice_refunded`, marketplace_app/outbox_handlers.py): the cumulative
total, once, however often the message is applied."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.outbox import outbox_relay_due
from marketplace_app.models import MarketplaceTransaction
from tests.api.conftest import bearer, body, send_json
from tests.api.test_breeder_sale_invoices import URL, breeder_and_sale
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def test_the_breeders_refunds_show_on_the_purchase_once_each(fake_stripe):
    tenant, tx, _, buyer_login = breeder_and_sale(amount=90_000, mode="stripe")
    connect_account(tenant=tenant)
    owner = bearer(tenant.owner_user)
    invoice = body(send_json(owner, "post", URL, {"transaction_id": tx.pk}))
    send_json(owner, "patch", f"/api/v1/invoices/{invoice['id']}/", {"action": "send", "version": invoice["version"]})
    card = body(bearer(buyer_login).post(f"/api/v1/marketplace/transactions/{tx.pk}/card-payment/"))
    deliver_and_process(
        Client(),
        stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(card["payment_intent_id"]))),
    )
    outbox_relay_due()
    purchase = f"/api/v1/marketplace/transactions/{tx.pk}/"
    assert (
        body(bearer(buyer_login).get(purchase))["status"],
        body(bearer(buyer_login).get(purchase))["refunded_cents"],
    ) == ("paid", 0)

    def refund(amount, key):
        version = body(owner.get(f"/api/v1/invoices/{invoice['id']}/"))["version"]
        response = send_json(
            owner,
            "post",
            f"/api/v1/invoices/{invoice['id']}/refunds/",
            {"amount_cents": amount, "reason": "goodwill", "version": version},
            **{"Idempotency-Key": key},
        )
        assert response.status_code == 201, response.content

    refund(10_000, "r-1")
    outbox_relay_due()
    outbox_relay_due()  # nothing left to apply: still one refund of 100.00
    seen = body(bearer(buyer_login).get(purchase))
    assert (seen["status"], seen["refunded_cents"]) == ("paid", 10_000)
    refund(80_000, "r-2")
    outbox_relay_due()
    stored = MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk)
    assert (stored.status, stored.refunded_cents) == ("refunded", 90_000)
