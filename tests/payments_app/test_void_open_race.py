"""Voiding an invoice (tenant, or marketplace through the outbox) while a worker creates its Stripe
payment intent, on real PostgreSQL connections (two threads, forced to overlap with a barrier).
Whatever the interleaving, the end is consistent: the invoice is void and Stripe holds no live
intent for it — either none was created, or the one created is cancelled (by the cancel worker,
or the sweep when its enqueue was lost)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.errors import DomainError
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import InvoicePayment
from payments_app.tasks import open_unopened_invoice_payments
from tenant_app import services as tenant_services
from tenant_app.models import Invoice
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.fixtures.broker import broker_unreachable
from tests.payments_app.conftest import connect_account, every_row, sent_tenant_invoice

pytestmark = [pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True), pytest.mark.slow]

#: (seconds Stripe takes to create an intent, seconds the void waits after the barrier, seconds the
#: open waits): the void lands before the open reads the invoice, during the Stripe call, around
#: the store, and after it; and both at once.
INTERLEAVINGS = [
    (0.0, 0.0, 0.3),
    (0.0, 0.0, 0.0),
    (0.2, 0.0, 0.0),
    (0.2, 0.05, 0.0),
    (0.2, 0.15, 0.0),
    (0.05, 0.05, 0.0),
    (0.0, 0.02, 0.0),
    (0.0, 0.0, 0.02),
    (0.1, 0.3, 0.0),
]


def in_thread(target, errors):
    def run():
        try:
            target()
        except DomainError:
            pass  # a refusal (e.g. the invoice is no longer sent) is a consistent outcome
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own database connections

    return threading.Thread(target=run)


def sent_invoice(kind, stripe_tenant):
    """(invoice id, tenant id, void function) of a sent Stripe-mode invoice of this kind."""
    if kind == "tenant":
        tenant_id = stripe_tenant.tenant.pk
        invoice = sent_tenant_invoice(stripe_tenant)

        def void():
            with tenant_context(tenant_id):
                tenant_services.invoice_void(invoice_id=invoice.pk, reason="sent by mistake")

        return invoice.pk, tenant_id, void
    provider = ProviderFactory(payment_mode="stripe")
    connect_account(provider=provider)
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    outbox_relay_due()  # the "unopened" payment row

    def void():
        marketplace_services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=2)
        outbox_relay_due()  # the payment row learns of it in the tenant database

    return invoice.pk, None, void


def invoice_status(kind, invoice_id, tenant_id):
    if kind == "marketplace":
        return MarketplaceInvoice.objects.get(pk=invoice_id).status
    with tenant_context(tenant_id):
        return Invoice.objects.get(pk=invoice_id).status


def race_once(fake_stripe, stripe_tenant, kind, *, stripe_seconds: float, void_after: float, open_after: float) -> None:
    invoice_id, tenant_id, void_invoice = sent_invoice(kind, stripe_tenant)
    fake_stripe._latency.clear()
    if stripe_seconds:
        fake_stripe.delay("POST", "/v1/payment_intents", stripe_seconds)
    barrier, errors = threading.Barrier(2), []

    def open_intent():
        barrier.wait(timeout=10)
        time.sleep(open_after)
        services.invoice_payment_open(invoice_kind=kind, invoice_id=invoice_id, tenant_id=tenant_id)

    def void():
        barrier.wait(timeout=10)
        time.sleep(void_after)
        void_invoice()

    threads = [in_thread(open_intent, errors), in_thread(void, errors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors

    # Whatever the cancel worker would do (its enqueue failed: Redis is down in this test), the
    # 5-minute sweep does too.
    every_row(InvoicePayment).update(
        cancel_requested_at=timezone.now() - timedelta(minutes=6), created_at=timezone.now() - timedelta(minutes=6)
    )
    open_unopened_invoice_payments()

    assert invoice_status(kind, invoice_id, tenant_id) == "void"
    payment = every_row(InvoicePayment).get(invoice_kind=kind, invoice_id=invoice_id)
    ours = [i for i in fake_stripe.objects["payment_intents"].values() if i["metadata"] == payment.metadata()]
    assert len(ours) <= 1  # one idempotency key per invoice: never two intents
    if payment.stripe_payment_intent_id is None:
        assert (payment.open_state, ours) == ("abandoned", [])
    else:
        assert [i["id"] for i in ours] == [payment.stripe_payment_intent_id]
        assert ours[0]["status"] == "canceled", (stripe_seconds, void_after, payment.open_state)
        assert (payment.open_state, payment.cancel_status, payment.stripe_status) == ("opened", "canceled", "canceled")
    assert [i for i in ours if i["status"] != "canceled"] == []  # never a live intent for a void invoice


@pytest.mark.parametrize("kind", ["tenant", "marketplace"])
def test_void_and_intent_creation_racing_always_end_consistent(fake_stripe, stripe_tenant, kind):
    with broker_unreachable():
        for stripe_seconds, void_after, open_after in INTERLEAVINGS:
            race_once(
                fake_stripe,
                stripe_tenant,
                kind,
                stripe_seconds=stripe_seconds,
                void_after=void_after,
                open_after=open_after,
            )
    # Both outcomes happened across the runs: the race was really run both ways.
    outcomes = set(every_row(InvoicePayment).values_list("open_state", flat=True))
    assert outcomes == {"abandoned", "opened"}, outcomes
