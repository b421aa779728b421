"""Buyers' clients asking for the same invoice's card payment at once: exactly one PaymentIntent is
created in Stripe, and every client gets that one (payments_app/card_payments.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES
from payments_app.models import InvoicePayment
from tests.api.test_card_payments import creates, marketplace_invoice
from tests.api.test_concurrency import run_together
from tests.payments_app.conftest import every_row

pytestmark = [pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True), pytest.mark.slow]


def test_simultaneous_card_payment_calls_make_one_intent(fake_stripe):
    fake_stripe.delay("POST", "/v1/payment_intents", 0.3)  # a slow Stripe widens the window
    buyer, _, invoice, _ = marketplace_invoice()
    access = buyer.defaults["HTTP_AUTHORIZATION"]  # the buyer's bearer token, for clients of their own

    def pay():
        response = Client(headers={"Authorization": access}).post(
            f"/api/v1/marketplace/invoices/{invoice.pk}/card-payment/"
        )
        return response.status_code, response.json().get("payment_intent_id")

    results = run_together(6, pay)
    assert {status for status, _ in results} == {200}, results
    assert len({intent for _, intent in results}) == 1
    assert len(creates(fake_stripe)) == 1
    assert len(fake_stripe.objects["payment_intents"]) == 1
    row = every_row(InvoicePayment).get(invoice_kind="marketplace", invoice_id=invoice.pk)
    assert row.stripe_payment_intent_id == results[0][1]


def test_simultaneous_calls_after_a_cancelled_intent_make_one_replacement(fake_stripe):
    buyer, _, invoice, _ = marketplace_invoice()
    url = f"/api/v1/marketplace/invoices/{invoice.pk}/card-payment/"
    first = buyer.post(url).json()["payment_intent_id"]
    fake_stripe.objects["payment_intents"][first]["status"] = "canceled"  # e.g. expired on Stripe's side
    fake_stripe.delay("POST", "/v1/payment_intents", 0.3)
    access = buyer.defaults["HTTP_AUTHORIZATION"]

    def pay():
        response = Client(headers={"Authorization": access}).post(url)
        return response.status_code, response.json().get("payment_intent_id")

    results = run_together(5, pay)
    assert {status for status, _ in results} == {200}, results
    [replacement] = {intent for _, intent in results}
    assert replacement != first
    assert len(creates(fake_stripe)) == 2
    assert (
        every_row(InvoicePayment).get(invoice_kind="marketplace", invoice_id=invoice.pk).stripe_payment_intent_id
        == replacement
    )
