"""A marketplace card refund whose process dies after Stripe accepted it (payments_app/refund_completion.py).

Two places to die: right after Stripe's answer (nothing recorded anywhere), and after the tenant side
committed the request while the API request's marketplace transaction was still open (the invoice
lost its share). Either way, the client's retry with the same Idempotency-Key and Stripe's webhooks
(`refund.created`, then `charge.refunded`), in either order, end with exactly one refund recorded:
one row per Stripe refund id, the invoice's and the payment's refunded amounts right, one request.
The crash is a real BaseException raised at the step (tests/crossdb_app/faults.py): every open
transaction rolls back, as when the process dies.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplaceInvoiceRefund,
    MarketplaceTransaction,
)
from payments_app import services
from payments_app.models import RefundRequest, StripeWebhookEvent
from tests.api.conftest import body, send_json
from tests.api.test_refund_channels import M, paid_marketplace_invoice, payment_row
from tests.breederhq.conftest import relay_until_quiet
from tests.crossdb_app import faults as fault_plan
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import deliver_and_process, every_row

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def marketplace_card_paid(fake_stripe):
    return paid_marketplace_invoice(fake_stripe)


@pytest.fixture
def faults():
    fault_plan.clear()
    yield fault_plan
    fault_plan.clear()


def the_refund(fake) -> dict:
    (refund,) = fake.objects["refunds"].values()
    return refund


def reprocess(event: StripeWebhookEvent) -> StripeWebhookEvent:
    StripeWebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
    return services.stripe_event_process(event_pk=event.pk)


def invoice_of(invoice) -> MarketplaceInvoice:
    return MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice.pk)


@pytest.mark.parametrize("step", ["refund.accepted", "refund.recorded"])
@pytest.mark.parametrize("order", ["retry_then_webhook", "webhook_then_retry"])
def test_a_refund_cut_by_a_crash_is_recorded_exactly_once(faults, fake_stripe, marketplace_card_paid, step, order):
    client, invoice, intent_id = marketplace_card_paid
    url, data = f"{M}invoices/{invoice.pk}/", {"action": "refund", "amount_cents": 2000, "version": invoice.version}
    faults.inject(step, crash=True)

    with pytest.raises(fault_plan.InjectedCrash):
        send_json(client, "patch", url, data, **{"Idempotency-Key": "k"})

    refund = the_refund(fake_stripe)  # Stripe made it
    assert invoice_of(invoice).refunded_cents == 0  # the invoice has not got it
    request = every_row(RefundRequest).get()
    assert request.status == (
        RefundRequest.Status.PENDING if step == "refund.accepted" else RefundRequest.Status.SUCCEEDED
    )

    def retry():
        again = send_json(client, "patch", url, data, **{"Idempotency-Key": "k"})
        assert (again.status_code, body(again)["refunded_cents"]) == (200, 2000), again.content

    if order == "retry_then_webhook":
        retry()
        told = deliver_and_process(Client(), stripe_event("refund.created", refund))
        assert "ignored: refund" in told.outcome and "already recorded" in told.outcome, told.outcome  # ledger; request
        relay_until_quiet()
        charge = deliver_and_process(Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id)))
        assert charge.outcome.startswith("ignored: refunds up to 2000 already recorded"), charge.outcome
    else:
        charge = deliver_and_process(Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id)))
        assert charge.status == StripeWebhookEvent.Status.FAILED  # waits: the refund is between the two databases
        assert invoice_of(invoice).refunded_cents == 0
        told = deliver_and_process(Client(), stripe_event("refund.created", refund))
        assert told.status == StripeWebhookEvent.Status.SUCCEEDED, told.outcome
        assert invoice_of(invoice).refunded_cents == 2000
        relay_until_quiet()
        assert reprocess(charge).outcome.startswith("ignored: refunds up to 2000 already recorded")
        retry()

    relay_until_quiet()
    stored = invoice_of(invoice)
    assert (stored.status, stored.refunded_cents) == ("partially_refunded", 2000)
    assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=stored.transaction_id).refunded_cents == 2000
    assert list(
        MarketplaceInvoiceRefund.objects.using(MARKETPLACE_DB).values_list("stripe_refund_id", "amount_cents")
    ) == [(refund["id"], 2000)]
    assert (
        MarketplaceInvoiceAuditLog.objects.using(MARKETPLACE_DB)
        .filter(invoice_id=invoice.pk, action="refunded")
        .count()
        == 1
    )
    request = every_row(RefundRequest).get()
    assert (request.status, request.stripe_refund_id) == (RefundRequest.Status.SUCCEEDED, refund["id"])
    assert payment_row("marketplace", invoice.pk).refunded_cents == 2000
    assert len(fake_stripe.objects["refunds"]) == 1


def test_the_database_refuses_a_second_record_of_one_stripe_refund(fake_stripe, marketplace_card_paid):
    _, invoice, _ = marketplace_card_paid
    MarketplaceInvoiceRefund.objects.using(MARKETPLACE_DB).create(
        invoice_id=invoice.pk, stripe_refund_id="re_1", amount_cents=100, currency=invoice.currency
    )
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceInvoiceRefund.objects.using(MARKETPLACE_DB).create(
            invoice_id=invoice.pk, stripe_refund_id="re_1", amount_cents=100, currency=invoice.currency
        )
