"""Invoice events from Stripe: one effect per payment, never backwards, mismatches flagged, in the
invoice's own tenant (found from the metadata we put on the Stripe object)."""

import copy
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import InvoicePayment
from tenant_app.models import CreditNote, Invoice, InvoiceAuditLog, Payment
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process, every_row, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def collected(fake_stripe, stripe_tenant):
    """A sent Stripe-mode tenant invoice of 250.00 with its payment intent."""
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    row = services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk)
    return stripe_tenant, invoice, row.stripe_payment_intent_id


def tenant_state(st, invoice):
    with tenant_context(st.tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
        payments = list(
            Payment.objects.filter(invoice=invoice)
            .order_by("pk")
            .values_list("kind", "method", "amount_cents", "external_reference")
        )
        return invoice, payments


def succeeded(fake, intent_id, **kwargs):
    return stripe_event("payment_intent.succeeded", copy.deepcopy(fake.succeed_intent(intent_id, **kwargs)))


def stripe_invoice(intent, *, amount_paid=None, **fields):
    """A Stripe Invoice object for our payment, shaped like Stripe's (metadata copied from ours)."""
    return {
        "id": f"in_for_{intent['id']}",
        "object": "invoice",
        "amount_due": intent["amount"],
        "amount_paid": intent["amount"] if amount_paid is None else amount_paid,
        "currency": intent["currency"],
        "payment_intent": intent["id"],
        "metadata": dict(intent["metadata"]),
        **fields,
    }


class TestPaid:
    def test_payment_intent_succeeded_pays_once_whatever_the_duplicates(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        event = succeeded(fake_stripe, intent_id)
        first = deliver_and_process(client, event)
        assert (first.status, first.outcome) == ("succeeded", f"invoice {invoice.invoice_number} paid")
        deliver_and_process(client, event)  # same event delivered again
        # The same payment told again through another event type.
        again = deliver_and_process(
            client, stripe_event("invoice.paid", stripe_invoice(fake_stripe.objects["payment_intents"][intent_id]))
        )
        assert again.outcome == f"duplicate: invoice {invoice.invoice_number} already paid"
        invoice, payments = tenant_state(st, invoice)
        assert (invoice.status, invoice.paid_cents, invoice.reconciliation_status) == ("paid", 25_000, "synced")
        assert payments == [("payment", "stripe", 25_000, intent_id)]
        assert every_row(InvoicePayment).get().stripe_status == "succeeded"

    def test_invoice_paid_alone_pays_too(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        intent = fake_stripe.succeed_intent(intent_id)
        assert deliver_and_process(client, stripe_event("invoice.paid", stripe_invoice(intent))).status == "succeeded"
        invoice, payments = tenant_state(st, invoice)
        assert (invoice.status, payments) == ("paid", [("payment", "stripe", 25_000, intent_id)])

    def test_an_amount_that_disagrees_marks_a_mismatch_instead_of_paying(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        event = succeeded(fake_stripe, intent_id, amount_received=20_000)
        processed = deliver_and_process(client, event)
        assert processed.status == "succeeded"
        assert processed.outcome == (
            f"mismatch: Stripe paid 20000 USD, invoice {invoice.invoice_number} is "
            f"25000 USD with 25000 due; not marked paid"
        )
        invoice, payments = tenant_state(st, invoice)
        assert (invoice.status, invoice.paid_cents, invoice.reconciliation_status, payments) == (
            "sent",
            0,
            "mismatch",
            [],
        )
        assert every_row(InvoicePayment).get().reconciliation_status == "mismatch"

    def test_the_handler_enters_the_invoices_tenant_only(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        other = TenantFactory(marketplace_payment_mode="stripe")
        with tenant_context(other.pk):
            other_invoice = make_invoice(contact=ContactFactory(tenant=other), amounts=(25_000,))
        assert other_invoice.pk != invoice.pk
        deliver_and_process(client, succeeded(fake_stripe, intent_id))
        with tenant_context(other.pk):
            assert Invoice.objects.get().status == "draft"
            assert not Payment.objects.exists()
        assert tenant_state(st, invoice)[0].status == "paid"


class TestNeverBackwards:
    def test_a_late_payment_failed_after_paid_changes_nothing_but_is_logged(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        intent = copy.deepcopy(fake_stripe.objects["payment_intents"][intent_id])
        failed_earlier = stripe_event(
            "invoice.payment_failed", stripe_invoice(intent, amount_paid=0), created=int(time.time()) - 60
        )
        deliver_and_process(client, succeeded(fake_stripe, intent_id))
        before, _ = tenant_state(st, invoice)
        late = deliver_and_process(client, failed_earlier)
        assert (late.status, late.outcome) == (
            "succeeded",
            f"ignored: late invoice.payment_failed, invoice {invoice.invoice_number} is already paid",
        )
        after, payments = tenant_state(st, invoice)
        assert (after.status, after.version, len(payments)) == ("paid", before.version, 1)

    def test_payment_failed_before_payment_keeps_the_invoice_sent(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        intent = fake_stripe.objects["payment_intents"][intent_id]
        processed = deliver_and_process(
            client, stripe_event("invoice.payment_failed", stripe_invoice(intent, amount_paid=0))
        )
        assert processed.outcome == f"payment failed; invoice {invoice.invoice_number} stays sent"
        assert tenant_state(st, invoice)[0].status == "sent"
        assert every_row(InvoicePayment).get().stripe_status == "payment_failed"

    def test_invoice_voided_voids_an_unpaid_invoice_and_never_a_paid_one(
        self, client, fake_stripe, collected, stripe_tenant
    ):
        st, invoice, intent_id = collected
        intent = fake_stripe.objects["payment_intents"][intent_id]
        voided = stripe_event("invoice.voided", stripe_invoice(intent, amount_paid=0, status="void"))
        deliver_and_process(client, succeeded(fake_stripe, intent_id))
        late = deliver_and_process(client, voided)
        assert late.outcome == (
            f"ignored: invoice {invoice.invoice_number} is paid; a Stripe void does not move it back"
        )
        assert tenant_state(st, invoice)[0].status == "paid"

        other = sent_tenant_invoice(stripe_tenant, amount=5_000)
        other_intent = services.invoice_payment_open(
            invoice_kind="tenant", invoice_id=other.pk, tenant_id=st.tenant.pk
        ).stripe_payment_intent_id
        event = stripe_event(
            "invoice.voided",
            stripe_invoice(fake_stripe.objects["payment_intents"][other_intent], amount_paid=0, status="void"),
        )
        assert deliver_and_process(client, event).outcome == f"invoice {other.invoice_number} voided"
        with tenant_context(st.tenant.pk):
            assert Invoice.objects.get(pk=other.pk).status == "void"
            assert InvoiceAuditLog.objects.filter(invoice_id=other.pk, action="voided").count() == 1


class TestRefunds:
    def test_partial_then_full_refund_with_duplicates_and_a_late_older_event(self, client, fake_stripe, collected):
        st, invoice, intent_id = collected
        deliver_and_process(client, succeeded(fake_stripe, intent_id))
        partial = stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=5_000))
        full = stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=25_000))

        assert deliver_and_process(client, partial).outcome == (
            f"refunded 5000 on invoice {invoice.invoice_number} (partial)"
        )
        assert tenant_state(st, invoice)[0].status == "partially_refunded"
        assert deliver_and_process(client, full).outcome == f"refunded 20000 on invoice {invoice.invoice_number} (full)"
        # The partial one delivered again under a new event id, after the full one.
        replay = stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=5_000))
        assert deliver_and_process(client, replay).outcome == (
            f"ignored: refunds up to 5000 already recorded on invoice {invoice.invoice_number}"
        )

        invoice, payments = tenant_state(st, invoice)
        charge_id = fake_stripe.objects["payment_intents"][intent_id]["latest_charge"]
        assert (invoice.status, invoice.paid_cents, invoice.refunded_cents) == ("refunded", 25_000, 25_000)
        assert payments == [
            ("payment", "stripe", 25_000, intent_id),
            ("refund", "stripe", 5_000, charge_id),
            ("refund", "stripe", 20_000, charge_id),
        ]
        with tenant_context(st.tenant.pk):
            assert list(CreditNote.objects.order_by("pk").values_list("credit_note_number", "amount_cents")) == [
                ("CN-000001", 5_000),
                ("CN-000002", 20_000),
            ]
        assert every_row(InvoicePayment).get().refunded_cents == 25_000

    def test_a_refund_before_its_payment_is_retried_and_then_applied(self, client, fake_stripe, collected, settings):
        st, invoice, intent_id = collected
        fake_stripe.succeed_intent(intent_id)
        early = deliver_and_process(
            client, stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=25_000))
        )
        assert (early.status, early.attempts) == ("failed", 1)
        assert (
            early.last_error
            == f"EventNotReady: invoice {invoice.invoice_number} is sent; its payment has not arrived yet"
        )
        assert tenant_state(st, invoice)[1] == []
        deliver_and_process(client, succeeded(fake_stripe, intent_id))
        # Backing off: not due now; due once the first backoff (at most the base delay) has passed.
        assert early.pk not in services.stripe_events_due()
        later = timezone.now() + timedelta(seconds=settings.STRIPE_WEBHOOK_RETRY_BASE_SECONDS + 1)
        assert early.pk in services.stripe_events_due(now=later)
        retried = services.stripe_event_process(event_pk=early.pk)
        assert (retried.status, retried.attempts) == ("succeeded", 2)
        invoice, payments = tenant_state(st, invoice)
        assert (invoice.status, [p[0] for p in payments]) == ("refunded", ["payment", "refund"])


class TestMarketplaceInvoices:
    def test_paid_then_partially_refunded_in_the_marketplace_database(self, client, fake_stripe):
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
        event = succeeded(fake_stripe, intent_id)
        assert deliver_and_process(client, event).outcome == f"invoice {invoice.number} paid"
        deliver_and_process(client, event)
        deliver_and_process(
            client, stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=3_000))
        )
        invoice = MarketplaceInvoice.objects.get()
        tx = MarketplaceTransaction.objects.get()
        assert (invoice.status, invoice.refunded_cents, invoice.version) == ("partially_refunded", 3_000, 4)
        assert (tx.status, tx.refunded_cents) == ("paid", 3_000)

    def test_a_wrong_currency_marks_the_marketplace_invoice_mismatched(self, client, fake_stripe):
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
        event = succeeded(fake_stripe, intent_id)
        event["data"]["object"]["currency"] = "eur"
        assert deliver_and_process(client, event).outcome.startswith("mismatch: Stripe paid 8000 EUR")
        invoice = MarketplaceInvoice.objects.get()
        assert (invoice.status, invoice.reconciliation_status, invoice.paid_at) == ("sent", "mismatch", None)
