"""No double collection: a payment by hand on a Stripe-mode invoice cancels its open payment intent
first (or is refused while the intent is processing); a card payment that still arrives for an
invoice already paid is refunded automatically and flagged for finance, audited."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app import services as payment_services
from payments_app.models import InvoicePayment, RefundRequest
from tenant_app import services
from tenant_app.models import Invoice, InvoiceAuditLog, Payment
from tests.api.conftest import bearer, body, send_json
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    deliver_and_process,
    every_row,
    sent_tenant_invoice,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def open_card_invoice(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    row = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    )
    with tenant_context(stripe_tenant.tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
    return stripe_tenant.tenant, invoice, row.stripe_payment_intent_id


def mark_paid_by_hand(tenant, invoice):
    return send_json(
        bearer(tenant.owner_user),
        "patch",
        f"/api/v1/invoices/{invoice.pk}/",
        {"action": "mark_paid", "method": "manual", "reference": "cash", "version": invoice.version},
    )


def payment_row(invoice) -> InvoicePayment:
    return every_row(InvoicePayment).get(invoice_kind="tenant", invoice_id=invoice.pk)


class TestPaymentByHand:
    def test_it_cancels_the_open_intent_first(self, fake_stripe, open_card_invoice):
        tenant, invoice, intent_id = open_card_invoice
        response = mark_paid_by_hand(tenant, invoice)
        assert (response.status_code, body(response)["status"]) == (200, "paid")
        assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
        [cancel] = fake_stripe.requests_to("POST", f"/v1/payment_intents/{intent_id}/cancel")
        row = payment_row(invoice)
        assert (row.stripe_status, row.cancel_status) == ("canceled", "canceled")

    def test_record_payment_cancels_it_too(self, fake_stripe, open_card_invoice):
        tenant, invoice, intent_id = open_card_invoice
        with tenant_context(tenant.pk):
            services.invoice_record_payment(
                invoice_id=invoice.pk, amount_cents=10_000, method="manual", idempotency_key="part-1"
            )
        assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"

    def test_it_is_refused_while_the_intent_is_processing(self, fake_stripe, open_card_invoice):
        tenant, invoice, intent_id = open_card_invoice
        fake_stripe.start_processing(intent_id)
        response = mark_paid_by_hand(tenant, invoice)
        assert (response.status_code, response["Content-Type"], body(response)["code"]) == (
            409,
            "application/problem+json",
            "payment_intent_processing",
        )
        with tenant_context(tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).status == "sent"
            assert not Payment.objects.filter(invoice_id=invoice.pk).exists()

    def test_stripe_unreachable_is_503_and_nothing_is_recorded(self, fake_stripe, open_card_invoice):
        tenant, invoice, intent_id = open_card_invoice
        fake_stripe.fail_next(1, status=500)
        response = mark_paid_by_hand(tenant, invoice)
        assert (response.status_code, body(response)["code"]) == (503, "stripe_unavailable")
        with tenant_context(tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).status == "sent"

    def test_an_invoice_without_an_intent_yet_closes_its_row(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
        tenant = stripe_tenant.tenant
        with tenant_context(tenant.pk):
            invoice = Invoice.objects.get(pk=invoice.pk)
        assert mark_paid_by_hand(tenant, invoice).status_code == 200
        assert payment_row(invoice).open_state == "abandoned"
        # The sweep (or a late open) creates no intent for it.
        payment_services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=tenant.pk)
        assert fake_stripe.objects["payment_intents"] == {}


class TestLateCardPayment:
    def test_a_card_payment_for_an_invoice_paid_by_hand_is_refunded_and_flagged(self, fake_stripe, open_card_invoice):
        from payments_app.tasks import resume_refund_request

        tenant, invoice, intent_id = open_card_invoice
        assert mark_paid_by_hand(tenant, invoice).status_code == 200
        # The buyer's card went through at Stripe all the same (paid in the instant of the cancel).
        fake_stripe.objects["payment_intents"][intent_id]["status"] = "requires_payment_method"
        event = deliver_and_process(
            Client(), stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id)))
        )
        assert event.status == "succeeded"
        assert event.outcome.startswith("mismatch: collected twice")
        # The worker returns the card money through Stripe.
        [request] = every_row(RefundRequest)
        assert resume_refund_request(request.pk, request.owner_tenant_id) == "succeeded"
        [stripe_refund] = fake_stripe.objects["refunds"].values()
        assert (stripe_refund["payment_intent"], stripe_refund["amount"]) == (intent_id, 25_000)
        row = payment_row(invoice)
        assert (row.reconciliation_status, row.refunded_cents) == ("mismatch", 25_000)
        assert row.reconciliation_note.startswith("collected twice")
        with tenant_context(tenant.pk):
            stored = Invoice.objects.get(pk=invoice.pk)
            assert (stored.status, stored.refunded_cents, stored.reconciliation_status) == ("paid", 0, "mismatch")
            audit = InvoiceAuditLog.objects.filter(invoice_id=invoice.pk, action="reconciliation").get()
            assert "collected twice" in audit.metadata["note"]
            # One payment on the ledger: the one by hand; the card money is not the invoice's.
            assert list(Payment.objects.filter(invoice_id=invoice.pk).values_list("kind", "method")) == [
                ("payment", "manual")
            ]
        # Stripe's notification of that refund records nothing on the invoice.
        refunded = deliver_and_process(Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id)))
        assert refunded.outcome.startswith("ignored: refunds up to 0 already recorded")
        # Nor can it be refunded through the API as if the card had paid it: the invoice's refund
        # goes back the way it came, by hand.
        with tenant_context(tenant.pk):
            stored = Invoice.objects.get(pk=invoice.pk)
        response = send_json(
            bearer(tenant.owner_user),
            "post",
            f"/api/v1/invoices/{invoice.pk}/refunds/",
            {"amount_cents": 1_000, "reason": "x", "version": stored.version},
            **{"Idempotency-Key": "after"},
        )
        assert (response.status_code, body(response)["method"]) == (201, "manual")
        assert len(fake_stripe.objects["refunds"]) == 1
