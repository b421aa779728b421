"""Refunds through the channel that took the money, keyed by the client's Idempotency-Key, for tenant
and marketplace invoices alike (payments_app/refunds/), through HTTP and the fake Stripe."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.services import LineItem
from payments_app import services as payment_services
from payments_app.models import InvoicePayment, RefundRequest, StripeWebhookEvent
from tenant_app import services
from tenant_app.models import Invoice, Payment
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.locks import a_session_waits_for_a_lock
from tests.payments_app.conftest import (
    connect_account,
    deliver_and_process,
    every_row,
    sent_tenant_invoice,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
M = "/api/v1/marketplace/"


def pay_by_card(fake, intent_id):
    return deliver_and_process(
        Client(), stripe_event("payment_intent.succeeded", copy.deepcopy(fake.succeed_intent(intent_id)))
    )


@pytest.fixture
def marketplace_card_paid(fake_stripe):
    return paid_marketplace_invoice(fake_stripe)


def paid_marketplace_invoice(fake):
    """A service provider's Stripe-mode invoice of 80.00, paid by card (webhook processed): the
    provider's client, the invoice and the intent id."""
    provider_login, provider = provider_with_login(payment_mode="stripe")
    connect_account(provider=provider)
    _, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    intent_id = payment_services.invoice_payment_open(
        invoice_kind="marketplace", invoice_id=invoice.pk
    ).stripe_payment_intent_id
    assert pay_by_card(fake, intent_id).outcome == f"invoice {invoice.number} paid"
    return bearer(provider_login), MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk), intent_id


def payment_row(kind: str, invoice_id: int) -> InvoicePayment:
    return every_row(InvoicePayment).get(invoice_kind=kind, invoice_id=invoice_id)


class TestMarketplaceRefundsReachStripe:
    def test_a_partial_refund_goes_back_through_stripe_and_is_recorded_once(self, fake_stripe, marketplace_card_paid):
        client, invoice, intent_id = marketplace_card_paid
        url = f"{M}invoices/{invoice.pk}/"
        response = send_json(
            client,
            "patch",
            url,
            {"action": "refund", "amount_cents": 1500, "version": invoice.version},
            **{"Idempotency-Key": "mp-refund-1"},
        )
        assert (response.status_code, body(response)["status"], body(response)["refunded_cents"]) == (
            200,
            "partially_refunded",
            1500,
        )
        [call] = fake_stripe.requests_to("POST", "/v1/refunds")
        assert (call["params"]["payment_intent"], call["params"]["amount"]) == (intent_id, "1500")
        [refund] = fake_stripe.objects["refunds"].values()
        row = payment_row("marketplace", invoice.pk)
        assert (row.refunded_cents, row.reconciliation_status) == (1500, "synced")
        assert every_row(RefundRequest).get().stripe_refund_id == refund["id"]
        assert (
            MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=invoice.transaction_id).refunded_cents == 1500
        )
        # Stripe's notification of the same refund adds nothing.
        event = deliver_and_process(Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id)))
        assert event.outcome.startswith("ignored: refunds up to 1500 already recorded")
        stored = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk)
        assert (stored.status, stored.refunded_cents) == ("partially_refunded", 1500)

    def test_stripe_unreachable_is_a_503_problem_and_nothing_is_recorded(self, fake_stripe, marketplace_card_paid):
        client, invoice, intent_id = marketplace_card_paid
        fake_stripe.fail_next(1, status=503)
        response = send_json(
            client,
            "patch",
            f"{M}invoices/{invoice.pk}/",
            {"action": "refund", "amount_cents": 1500, "version": invoice.version},
            **{"Idempotency-Key": "mp-refund-2"},
        )
        assert (response.status_code, response["Content-Type"], body(response)["code"]) == (
            503,
            "application/problem+json",
            "stripe_unavailable",
        )
        stored = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk)
        assert (stored.status, stored.refunded_cents) == ("paid", 0)
        assert payment_row("marketplace", invoice.pk).refunded_cents == 0
        assert fake_stripe.objects["refunds"] == {}
        # The same key again, Stripe back: refunded once.
        again = send_json(
            client,
            "patch",
            f"{M}invoices/{invoice.pk}/",
            {"action": "refund", "amount_cents": 1500, "version": invoice.version},
            **{"Idempotency-Key": "mp-refund-2"},
        )
        assert (again.status_code, body(again)["refunded_cents"]) == (200, 1500)
        assert len(fake_stripe.objects["refunds"]) == 1

    def test_a_refund_whose_answer_never_came_is_not_counted_twice_by_the_notification(
        self, fake_stripe, marketplace_card_paid
    ):
        """Stripe makes the refund but its answer is lost (timeout): 503, nothing recorded, the
        request stays pending; Stripe's charge.refunded waits for it; the client's retry with the
        same key gets the same Stripe refund back; then the notification finds it recorded."""
        from payments_app import services

        client, invoice, intent_id = marketplace_card_paid
        url = f"{M}invoices/{invoice.pk}/"
        data = {"action": "refund", "amount_cents": 2000, "version": invoice.version}
        entered, release = fake_stripe.hold_next("POST", "/v1/refunds")
        lost = send_json(client, "patch", url, data, **{"Idempotency-Key": "k"})
        release.set()
        assert (lost.status_code, body(lost)["code"]) == (503, "stripe_unavailable")
        assert len(fake_stripe.objects["refunds"]) == 1  # Stripe did refund
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).refunded_cents == 0
        event = deliver_and_process(Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id)))
        assert event.status == StripeWebhookEvent.Status.FAILED  # retried once the request is settled
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).refunded_cents == 0
        retry = send_json(client, "patch", url, data, **{"Idempotency-Key": "k"})
        assert (retry.status_code, body(retry)["refunded_cents"]) == (200, 2000)
        assert len(fake_stripe.objects["refunds"]) == 1
        StripeWebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
        event = services.stripe_event_process(event_pk=event.pk)
        assert event.outcome.startswith("ignored: refunds up to 2000 already recorded")
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).refunded_cents == 2000
        assert payment_row("marketplace", invoice.pk).refunded_cents == 2000

    def test_the_sweep_settles_a_request_whose_answer_never_came(self, fake_stripe, marketplace_card_paid):
        from datetime import timedelta

        from django.utils import timezone

        from payments_app.tasks import _resume_refunds

        client, invoice, intent_id = marketplace_card_paid
        entered, release = fake_stripe.hold_next("POST", "/v1/refunds")
        lost = send_json(
            client,
            "patch",
            f"{M}invoices/{invoice.pk}/",
            {"action": "refund", "amount_cents": 2000, "version": invoice.version},
            **{"Idempotency-Key": "k"},
        )
        release.set()
        assert lost.status_code == 503
        every_row(RefundRequest).update(updated_at=timezone.now() - timedelta(minutes=10))
        assert _resume_refunds() == {"refunds_settled": 1, "refunds_pending": 0}
        assert _resume_refunds() == {"refunds_settled": 0, "refunds_pending": 0}
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk).refunded_cents == 2000
        assert len(fake_stripe.objects["refunds"]) == 1


@pytest.fixture
def tenant_card_paid(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    row = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    )
    pay_by_card(fake_stripe, row.stripe_payment_intent_id)
    with tenant_context(stripe_tenant.tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
    return stripe_tenant.tenant, invoice, row.stripe_payment_intent_id


def refund(client, invoice, amount, key, version):
    return send_json(
        client,
        "post",
        f"/api/v1/invoices/{invoice.pk}/refunds/",
        {"amount_cents": amount, "reason": "asked", "version": version},
        **{"Idempotency-Key": key},
    )


def tenant_ledger(tenant, invoice):
    with tenant_context(tenant.pk):
        stored = Invoice.objects.get(pk=invoice.pk)
        rows = list(
            Payment.objects.filter(invoice=stored, kind="refund").order_by("pk").values_list("amount_cents", "method")
        )
    return stored.status, stored.refunded_cents, rows


class TestKeysAndChannels:
    def test_a_stripe_mode_invoice_paid_by_hand_is_refunded_by_hand_without_calling_stripe(
        self, fake_stripe, stripe_tenant
    ):
        invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
        tenant = stripe_tenant.tenant
        payment_services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=tenant.pk)
        with tenant_context(tenant.pk):
            paid = services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="cash")
        before = len(fake_stripe.requests_to("POST", "/v1/refunds"))
        response = refund(bearer(tenant.owner_user), invoice, 5_000, "by-hand", paid.version)
        assert (response.status_code, body(response)["method"], body(response)["provider_reference"]) == (
            201,
            "manual",
            "",
        )
        assert len(fake_stripe.requests_to("POST", "/v1/refunds")) == before
        assert tenant_ledger(tenant, invoice) == ("partially_refunded", 5_000, [(5_000, "manual")])

    def test_the_same_key_replays_and_another_key_is_another_refund(self, fake_stripe, tenant_card_paid):
        tenant, invoice, intent_id = tenant_card_paid
        client = bearer(tenant.owner_user)
        first = refund(client, invoice, 5_000, "k1", invoice.version)
        again = refund(client, invoice, 5_000, "k1", invoice.version)
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
        second = refund(client, invoice, 5_000, "k2", invoice.version + 1)
        assert second.status_code == 201, second.content
        assert body(second)["credit_note_number"] != body(first)["credit_note_number"]
        assert len(fake_stripe.objects["refunds"]) == 2
        assert tenant_ledger(tenant, invoice) == ("partially_refunded", 10_000, [(5_000, "stripe"), (5_000, "stripe")])
        assert payment_row("tenant", invoice.pk).refunded_cents == 10_000

    def test_more_than_what_is_left_is_409_with_the_refundable_amount(self, fake_stripe, tenant_card_paid):
        tenant, invoice, _ = tenant_card_paid
        response = refund(bearer(tenant.owner_user), invoice, 25_001, "big", invoice.version)
        assert (response.status_code, body(response)["code"], body(response)["refundable_cents"]) == (
            409,
            "refund_exceeds_refundable",
            25_000,
        )
        assert fake_stripe.requests_to("POST", "/v1/refunds") == []


def two_staff_at_once(fake_stripe, tenant, invoice, amounts: tuple[int, int]) -> list:
    """Staff 0's refund is at Stripe (its answer held) while staff 1's, made at the same version
    with another key, has arrived and waits for it; then Stripe answers."""
    import threading

    from django.db import connections

    entered, release = fake_stripe.hold_next("POST", "/v1/refunds")
    results = [None, None]

    def staff(index: int) -> None:
        try:
            results[index] = refund(clients[index], invoice, amounts[index], f"staff-{index}", invoice.version)
        finally:
            for alias in DATABASE_ALIASES:
                connections[alias].close()

    clients = [bearer(tenant.owner_user), bearer(tenant.owner_user)]  # signed in before anything starts

    first = threading.Thread(target=staff, args=(0,))
    first.start()
    assert entered.wait(15)
    second = threading.Thread(target=staff, args=(1,))
    second.start()
    waited = a_session_waits_for_a_lock(timeout=60)
    release.set()
    first.join(60)
    second.join(60)
    assert waited
    return results


@pytest.fixture
def patient_stripe(settings, fake_stripe):
    """The gateway waits long enough for a held answer."""
    from payments_app import stripe_gateway

    settings.STRIPE_TIMEOUT_SECONDS = 30
    stripe_gateway.stripe_client.cache_clear()
    yield fake_stripe
    stripe_gateway.stripe_client.cache_clear()


@pytest.mark.slow
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
class TestConcurrentKeys:
    def test_two_staff_with_different_keys_at_the_same_version_are_two_requests_judged_against_what_is_left(
        self, patient_stripe, tenant_card_paid
    ):
        tenant, invoice, intent_id = tenant_card_paid
        results = two_staff_at_once(patient_stripe, tenant, invoice, (15_000, 15_000))
        # The first is refunded; the second is told the truth: nothing moved, only 10000 is left
        # (not "sent but not recorded", not the first one's credit note).
        assert (results[0].status_code, results[1].status_code, body(results[1])["code"]) == (
            201,
            409,
            "refund_exceeds_refundable",
        )
        assert body(results[1])["refundable_cents"] == 10_000
        assert len(patient_stripe.objects["refunds"]) == 1
        assert tenant_ledger(tenant, invoice) == ("partially_refunded", 15_000, [(15_000, "stripe")])

    def test_two_keys_that_both_fit_are_both_refunded_once_each(self, patient_stripe, tenant_card_paid):
        tenant, invoice, intent_id = tenant_card_paid
        results = two_staff_at_once(patient_stripe, tenant, invoice, (5_000, 5_000))
        assert [r.status_code for r in results] == [201, 201]
        assert body(results[0])["credit_note_number"] != body(results[1])["credit_note_number"]
        assert len(patient_stripe.objects["refunds"]) == 2
        assert tenant_ledger(tenant, invoice) == ("partially_refunded", 10_000, [(5_000, "stripe"), (5_000, "stripe")])


class TestReconciliation:
    def test_a_refund_stripe_made_that_we_did_not_record_is_flagged(self, fake_stripe, tenant_card_paid):
        from payments_app.reconciliation import stripe_reconcile

        tenant, invoice, intent_id = tenant_card_paid
        assert stripe_reconcile(trigger="command").mismatch == 0
        # Someone refunds in Stripe's dashboard and the notification never arrives.
        fake_stripe.route("POST", "/v1/refunds", {"payment_intent": intent_id, "amount": "700"})
        run = stripe_reconcile(trigger="command")
        assert run.mismatch == 1
        row = payment_row("tenant", invoice.pk)
        assert (row.reconciliation_status, row.reconciliation_note) == (
            "mismatch",
            f"Stripe refunded 700 on {intent_id}, we recorded 0",
        )
        with tenant_context(tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).reconciliation_status == "mismatch"

    def test_refunds_through_the_api_reconcile_as_synced(self, fake_stripe, tenant_card_paid):
        from payments_app.reconciliation import stripe_reconcile

        tenant, invoice, intent_id = tenant_card_paid
        assert refund(bearer(tenant.owner_user), invoice, 700, "r1", invoice.version).status_code == 201
        assert stripe_reconcile(trigger="command").mismatch == 0
        assert payment_row("tenant", invoice.pk).reconciliation_status == "synced"
