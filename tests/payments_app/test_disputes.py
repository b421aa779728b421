"""Disputes: opened -> the marketplace transaction is disputed (outbox, across databases); lost ->
the payment is reversed in the ledger; won -> the transaction is paid again."""

import pytest

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import DATABASE_ALIASES
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import InvoicePayment
from tenant_app.models import CreditNote, Invoice, Payment
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process, every_row, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def relay():
    """The outbox relay, as the worker and the beat sweep run it."""
    return outbox_relay_due()


@pytest.fixture
def breeder_sale(client, fake_stripe, stripe_tenant):
    """A breeder's marketplace sale billed by a tenant invoice, paid through Stripe."""
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000, is_marketplace_invoice=True)
    provider = ProviderFactory(breeder=True, tenant_id=stripe_tenant.tenant.pk)
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=25_000)
    marketplace_services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    intent_id = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    deliver_and_process(client, stripe_event("payment_intent.succeeded", fake_stripe.succeed_intent(intent_id)))
    relay()
    assert MarketplaceTransaction.objects.get(pk=tx.pk).status == "paid"
    return stripe_tenant, invoice, tx, intent_id


def tx_status(tx):
    return MarketplaceTransaction.objects.values_list("status", "refunded_cents").get(pk=tx.pk)


class TestBreederSale:
    def test_opened_disputes_the_transaction_once(self, client, fake_stripe, breeder_sale):
        st, invoice, tx, intent_id = breeder_sale
        event = stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_1"))
        assert deliver_and_process(client, event).outcome == f"dispute dp_1 opened on tenant invoice #{invoice.pk}"
        again = stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_1"))
        assert deliver_and_process(client, again).outcome == "duplicate: dispute dp_1 already open"
        relay()
        assert tx_status(tx) == ("disputed", 0)
        payment = every_row(InvoicePayment).get()
        assert (payment.dispute_id, payment.dispute_status) == ("dp_1", "needs_response")

    def test_lost_reverses_the_payment_in_the_ledger_and_refunds_the_transaction(
        self, client, fake_stripe, breeder_sale
    ):
        st, invoice, tx, intent_id = breeder_sale
        deliver_and_process(
            client, stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_1"))
        )
        relay()
        lost = stripe_event(
            "charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="lost")
        )
        assert deliver_and_process(client, lost).outcome == "dispute dp_1 lost"
        deliver_and_process(client, lost)
        relay()
        with tenant_context(st.tenant.pk):
            invoice = Invoice.objects.get(pk=invoice.pk)
            assert (invoice.status, invoice.refunded_cents) == ("refunded", 25_000)
            assert list(
                Payment.objects.filter(invoice=invoice)
                .order_by("pk")
                .values_list("kind", "amount_cents", "external_reference")
            ) == [("payment", 25_000, intent_id), ("refund", 25_000, "dp_1")]
            assert CreditNote.objects.get().reason == "dispute dp_1 lost"
        assert tx_status(tx) == ("refunded", 25_000)
        assert every_row(InvoicePayment).get().dispute_status == "lost"
        # Our rows point at both databases; the integrity check finds nothing wrong.
        assert run_crossdb_check()["problems"] == []

    def test_won_puts_the_transaction_back_to_paid_and_leaves_the_ledger(self, client, fake_stripe, breeder_sale):
        st, invoice, tx, intent_id = breeder_sale
        deliver_and_process(
            client, stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_1"))
        )
        relay()
        won = stripe_event("charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="won"))
        deliver_and_process(client, won)
        relay()
        assert tx_status(tx) == ("paid", 0)
        with tenant_context(st.tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).status == "paid"
            assert Payment.objects.filter(invoice_id=invoice.pk).count() == 1
        # The opening, delivered late, does not dispute it again.
        late = stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_1"))
        assert deliver_and_process(client, late).outcome == "ignored: dispute dp_1 already closed (won)"
        relay()
        assert tx_status(tx) == ("paid", 0)

    def test_a_lost_dispute_whose_opening_never_arrived_still_takes_the_money_back(
        self, client, fake_stripe, breeder_sale
    ):
        st, invoice, tx, intent_id = breeder_sale
        lost = stripe_event(
            "charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_9", status="lost")
        )
        deliver_and_process(client, lost)
        relay()
        assert tx_status(tx) == ("refunded", 25_000)


def test_a_service_providers_dispute_lost(client, fake_stripe):
    provider = ProviderFactory(payment_mode="stripe")
    connect_account(provider=provider)
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    intent_id = services.invoice_payment_open(
        invoice_kind="marketplace", invoice_id=invoice.pk
    ).stripe_payment_intent_id
    deliver_and_process(client, stripe_event("payment_intent.succeeded", fake_stripe.succeed_intent(intent_id)))
    deliver_and_process(
        client, stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_2"))
    )
    relay()
    assert tx_status(tx) == ("disputed", 0)
    deliver_and_process(
        client,
        stripe_event("charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_2", status="lost")),
    )
    relay()
    invoice = MarketplaceInvoice.objects.get()
    assert (invoice.status, invoice.refunded_cents) == ("refunded", 8_000)
    assert tx_status(tx) == ("refunded", 8_000)
    assert run_crossdb_check()["problems"] == []
