"""Paying an invoice by card through the API (payments_app/card_payments.py): the buyer gets the
invoice's one PaymentIntent for what is still due, Stripe (the fake, over HTTP) is asked once, and
only the signed webhook marks the invoice paid."""

from __future__ import annotations

import copy
import re

import pytest
import stripe
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.services import LineItem
from payments_app import stripe_gateway
from payments_app.models import InvoicePayment, StripeConnectAccount
from tenant_app import services as tenant_services
from tenant_app.models import Invoice, Payment
from tests.api.conftest import bearer, body
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, make_invoice
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    connect_account,
    deliver_and_process,
    every_row,
    owner_save,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
M = "/api/v1/marketplace/"
SECRET = re.compile(r"^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$")


def creates(fake) -> list[dict]:
    """Payment intents Stripe really created (not answered from its idempotency cache)."""
    return [
        r
        for r in fake.requests_to("POST", "/v1/payment_intents")
        if r["path"] == "/v1/payment_intents" and not r["replayed"]
    ]


def pay_by_card(fake, intent_id):
    return deliver_and_process(
        Client(), stripe_event("payment_intent.succeeded", copy.deepcopy(fake.succeed_intent(intent_id)))
    )


def marketplace_invoice(*, mode="stripe", amount=8_000, send=True):
    provider_login, provider = provider_with_login(payment_mode=mode)
    if mode == "stripe":
        connect_account(provider=provider)
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=amount)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", amount)]
    )
    if send:
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    return bearer(buyer_login), bearer(provider_login), invoice, provider


@pytest.fixture
def breeder_sale(stripe_tenant):
    """A breeder (Stripe mode, enabled account) sold to a marketplace buyer and sent the tenant
    invoice of 250.00 for it."""
    tenant = stripe_tenant.tenant
    breeder_login, breeder_identity = person("breeder")
    provider = ProviderFactory(user=breeder_identity, kind="breeder", tenant_id=tenant.pk)
    buyer_login, buyer = person()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant, marketplace_user_id=buyer.pk)
        invoice = make_invoice(contact=contact, amounts=(25_000,), is_marketplace_invoice=True)
        tenant_services.invoice_send(invoice_id=invoice.pk)
    tx = make_transaction(provider, buyer, amount_cents=25_000)
    marketplace_services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    return tenant, bearer(buyer_login), tx, invoice, bearer(breeder_login)


class TestMarketplaceInvoiceByCard:
    def test_the_buyer_gets_one_intent_for_the_amount_due_and_the_same_one_again(self, fake_stripe, settings):
        settings.STRIPE_PUBLISHABLE_KEY = "pk_test_breederhq"
        buyer, _, invoice, provider = marketplace_invoice()
        url = f"{M}invoices/{invoice.pk}/card-payment/"
        first = buyer.post(url)
        assert first.status_code == 200, first.content
        data = body(first)
        assert SECRET.match(data["client_secret"]).group(1) == data["payment_intent_id"]
        assert (
            data["invoice_kind"],
            data["invoice_id"],
            data["amount_cents"],
            data["currency"],
            data["status"],
            data["publishable_key"],
        ) == ("marketplace", invoice.pk, 8_000, "USD", "requires_payment_method", "pk_test_breederhq")
        assert first["Cache-Control"] == "no-store"
        [create] = creates(fake_stripe)
        assert create["params"]["amount"] == "8000"
        assert create["params"]["application_fee_amount"] == "400"  # 5 %
        assert create["params"]["transfer_data"] == {"destination": f"acct_p{provider.pk}"}
        again = buyer.post(url, headers={"Idempotency-Key": "whatever"})
        assert (again.status_code, body(again)) == (200, data)
        assert len(creates(fake_stripe)) == 1
        row = every_row(InvoicePayment).get(invoice_kind="marketplace", invoice_id=invoice.pk)
        assert (row.stripe_payment_intent_id, row.amount_cents, row.open_state) == (
            data["payment_intent_id"],
            8_000,
            "opened",
        )

    def test_only_the_webhook_marks_it_paid_and_then_it_is_not_payable(self, fake_stripe):
        buyer, _, invoice, _ = marketplace_invoice()
        url = f"{M}invoices/{invoice.pk}/card-payment/"
        intent_id = body(buyer.post(url))["payment_intent_id"]
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).status == "sent"
        fake_stripe.succeed_intent(intent_id)
        # Paid in Stripe, the webhook not here yet: the buyer is told, nothing is marked paid.
        early = buyer.post(url)
        assert (early.status_code, body(early)["code"]) == (409, "paid_by_card")
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).status == "sent"
        assert pay_by_card(fake_stripe, intent_id).outcome == f"invoice {invoice.number} paid"
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).status == "paid"
        late = buyer.post(url)
        assert (late.status_code, late["Content-Type"], body(late)["code"]) == (
            409,
            "application/problem+json",
            "invoice_not_payable",
        )

    def test_strangers_get_404_and_the_provider_403(self, fake_stripe):
        _, provider, invoice, _ = marketplace_invoice()
        stranger_login, _ = person()
        url = f"{M}invoices/{invoice.pk}/card-payment/"
        assert bearer(stranger_login).post(url).status_code == 404
        assert body(bearer(stranger_login).post(f"{M}invoices/999999999/card-payment/"))["code"] == "not_found"
        refused = provider.post(url)
        assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
        assert Client().post(url).status_code == 401
        assert creates(fake_stripe) == []

    def test_a_manual_invoice_a_draft_and_an_account_that_cannot_charge_are_409(self, fake_stripe):
        buyer, _, manual, _ = marketplace_invoice(mode="manual")
        response = buyer.post(f"{M}invoices/{manual.pk}/card-payment/")
        assert (response.status_code, body(response)["code"]) == (409, "invoice_manual_mode")
        buyer, _, draft, _ = marketplace_invoice(send=False)
        response = buyer.post(f"{M}invoices/{draft.pk}/card-payment/")
        assert (response.status_code, body(response)["code"]) == (409, "invoice_not_payable")
        buyer, _, invoice, provider = marketplace_invoice()
        account = every_row(StripeConnectAccount).get(provider_id=provider.pk)
        account.status = StripeConnectAccount.Status.RESTRICTED
        owner_save(account)
        response = buyer.post(f"{M}invoices/{invoice.pk}/card-payment/")
        assert (response.status_code, body(response)["code"]) == (409, "seller_account_cannot_take_charges")
        assert creates(fake_stripe) == []

    def test_stripe_unreachable_is_503_and_a_retry_makes_the_one_intent(self, fake_stripe):
        buyer, _, invoice, _ = marketplace_invoice()
        url = f"{M}invoices/{invoice.pk}/card-payment/"
        fake_stripe.fail_next(1, status=503)
        down = buyer.post(url)
        assert (down.status_code, down["Content-Type"], body(down)["code"]) == (
            503,
            "application/problem+json",
            "stripe_unavailable",
        )
        up = buyer.post(url)
        assert up.status_code == 200
        assert len(fake_stripe.objects["payment_intents"]) == 1

    def test_an_intent_whose_amount_drifted_is_brought_back_to_the_amount_due(self, fake_stripe):
        buyer, _, invoice, _ = marketplace_invoice()
        url = f"{M}invoices/{invoice.pk}/card-payment/"
        intent_id = body(buyer.post(url))["payment_intent_id"]
        fake_stripe.objects["payment_intents"][intent_id]["amount"] = 1  # changed in Stripe's dashboard
        fixed = buyer.post(url)
        assert (fixed.status_code, body(fixed)["payment_intent_id"], body(fixed)["amount_cents"]) == (
            200,
            intent_id,
            8_000,
        )
        [update] = [
            r
            for r in fake_stripe.requests_to("POST", f"/v1/payment_intents/{intent_id}")
            if r["path"] == f"/v1/payment_intents/{intent_id}"
        ]
        assert (update["params"]["amount"], update["params"]["application_fee_amount"]) == ("8000", "400")


class TestBreederInvoiceByCard:
    def test_a_part_paid_by_hand_replaces_the_intent_with_one_for_the_balance(self, fake_stripe, breeder_sale):
        tenant, buyer, tx, invoice, _ = breeder_sale
        url = f"{M}transactions/{tx.pk}/card-payment/"
        first = body(buyer.post(url))
        assert (first["invoice_kind"], first["invoice_id"], first["amount_cents"]) == ("tenant", invoice.pk, 25_000)
        with tenant_context(tenant.pk):  # the breeder records 100.00 received by bank transfer
            tenant_services.invoice_record_payment(
                invoice_id=invoice.pk, amount_cents=10_000, method="manual", idempotency_key="transfer-1"
            )
        assert fake_stripe.objects["payment_intents"][first["payment_intent_id"]]["status"] == "canceled"
        second = buyer.post(url)
        assert second.status_code == 200, second.content
        balance = body(second)
        assert balance["payment_intent_id"] != first["payment_intent_id"]
        assert balance["amount_cents"] == 15_000
        assert SECRET.match(balance["client_secret"]).group(1) == balance["payment_intent_id"]
        assert body(buyer.post(url)) == balance  # and the same one again
        assert len(creates(fake_stripe)) == 2
        new = fake_stripe.objects["payment_intents"][balance["payment_intent_id"]]
        assert (new["application_fee_amount"], new["metadata"]["breederhq_invoice_id"]) == (750, str(invoice.pk))
        outcome = pay_by_card(fake_stripe, balance["payment_intent_id"]).outcome
        assert outcome == f"invoice {invoice.invoice_number} paid"
        with tenant_context(tenant.pk):
            stored = Invoice.objects.get(pk=invoice.pk)
            payments = sorted(Payment.objects.filter(invoice_id=invoice.pk).values_list("method", "amount_cents"))
        assert (stored.status, stored.paid_cents) == ("paid", 25_000)
        assert payments == [("manual", 10_000), ("stripe", 15_000)]
        row = every_row(InvoicePayment).get(invoice_kind="tenant", invoice_id=invoice.pk)
        assert (row.stripe_payment_intent_id, row.amount_cents, row.stripe_status, row.reconciliation_status) == (
            balance["payment_intent_id"],
            15_000,
            "succeeded",
            "synced",
        )
        # Reconciliation agrees: the balance intent matches its row, the cancelled one is not "missing".
        from payments_app.reconciliation import stripe_reconcile

        run = stripe_reconcile(trigger="command")
        assert (run.synced, run.mismatch, run.missing_local, run.missing_remote) == (1, 0, 0, 0)
        with tenant_context(tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).reconciliation_status == "synced"

    def test_only_the_buyer_of_the_purchase_may_pay(self, fake_stripe, breeder_sale):
        _, _, tx, _, breeder = breeder_sale
        url = f"{M}transactions/{tx.pk}/card-payment/"
        stranger_login, _ = person()
        assert bearer(stranger_login).post(url).status_code == 404
        refused = breeder.post(url)
        assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
        assert creates(fake_stripe) == []

    def test_a_purchase_not_billed_yet_is_409(self, fake_stripe):
        _, breeder_identity = person("breeder")
        buyer_login, buyer = person()
        tx = make_transaction(ProviderFactory(user=breeder_identity, breeder=True), buyer)
        response = bearer(buyer_login).post(f"{M}transactions/{tx.pk}/card-payment/")
        assert (response.status_code, body(response)["code"]) == (409, "invoice_not_payable")
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "pending_invoice"


def test_the_fake_refuses_a_key_reused_with_other_parameters_as_stripe_does(fake_stripe):
    client = stripe_gateway.stripe_client()
    params = {"amount": 500, "currency": "usd"}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"})
    assert client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"}).id == first.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params={**params, "amount": 600}, options={"idempotency_key": "k-1"})
    assert len(fake_stripe.objects["payment_intents"]) == 1
