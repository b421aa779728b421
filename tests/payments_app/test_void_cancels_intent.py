"""Voiding an invoice cancels its open Stripe payment intent: after the void commits (never inside
its transaction), under a key derived from the invoice, retried by the sweep while Stripe is down."""

from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.services import LineItem
from payments_app import intent_cancel, services
from payments_app.models import InvoicePayment
from payments_app.providers import PaymentRequest, StripeConnectProvider
from payments_app.stripe_gateway import StripeUnavailable
from payments_app.tasks import cancel_invoice_payment, open_unopened_invoice_payments
from tenant_app import services as tenant_services
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.payments_app.conftest import connect_account, every_row, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def open_invoice(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant)
    intent_id = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    return invoice, intent_id


def void(invoice, tenant_id, capture):
    with capture(using=TENANT_DB, execute=False) as callbacks, tenant_context(tenant_id):
        tenant_services.invoice_void(invoice_id=invoice.pk, reason="sent by mistake")
    return callbacks


def cancels(fake_stripe):
    return [
        (r["path"], r["idempotency_key"])
        for r in fake_stripe.requests_to("POST", "/v1/payment_intents/")
        if r["path"].endswith("/cancel")
    ]


def row():
    return every_row(InvoicePayment).values_list("cancel_status", "stripe_status", "cancel_error").get()


def test_void_requests_the_cancel_and_the_worker_cancels_once_with_the_invoice_key(
    fake_stripe, stripe_tenant, open_invoice, django_capture_on_commit_callbacks
):
    invoice, intent_id = open_invoice
    callbacks = void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    # Nothing was sent to Stripe inside the void's transaction; the worker is enqueued on commit.
    assert cancels(fake_stripe) == []
    assert len(callbacks) == 1
    assert row() == ("pending", "requires_payment_method", "")
    assert cancel_invoice_payment("tenant", invoice.pk) == "canceled"
    assert cancel_invoice_payment("tenant", invoice.pk) == "canceled"
    assert cancels(fake_stripe) == [
        (
            f"/v1/payment_intents/{intent_id}/cancel",
            f"breederhq:invoice.payment_intent.cancel:tenant:{invoice.pk}:{intent_id}",
        )
    ]
    assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
    assert row() == ("canceled", "canceled", "")


def test_stripe_down_leaves_it_pending_and_the_sweep_cancels_it_with_the_same_key(
    fake_stripe, stripe_tenant, open_invoice, django_capture_on_commit_callbacks
):
    invoice, intent_id = open_invoice
    void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    fake_stripe.fail_next(1, status=500)
    with pytest.raises(StripeUnavailable):
        services.invoice_payment_cancel(invoice_kind="tenant", invoice_id=invoice.pk)
    status, stripe_status, error = row()
    assert (status, stripe_status) == ("pending", "requires_payment_method")
    assert error.startswith("Stripe is unavailable: payment_intent.cancel failed")
    assert services.invoice_payments_cancel_pending() == []  # too fresh: the worker may still be on it
    every_row(InvoicePayment).update(cancel_requested_at=timezone.now() - timedelta(minutes=6))
    assert open_unopened_invoice_payments() == {
        "opened": 0,
        "failed": 0,
        "abandoned": 0,
        "cancelled": 1,
        "cancel_pending": 0,
    }
    assert open_unopened_invoice_payments() == {
        "opened": 0,
        "failed": 0,
        "abandoned": 0,
        "cancelled": 0,
        "cancel_pending": 0,
    }
    key = f"breederhq:invoice.payment_intent.cancel:tenant:{invoice.pk}:{intent_id}"
    assert [k for _, k in cancels(fake_stripe)] == [key, key]
    assert row() == ("canceled", "canceled", "")


def test_an_intent_the_buyer_paid_just_before_the_void_is_refused_and_flagged(
    fake_stripe, stripe_tenant, open_invoice, django_capture_on_commit_callbacks
):
    invoice, intent_id = open_invoice
    fake_stripe.succeed_intent(intent_id)  # its webhook has not arrived yet
    void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    payment = services.invoice_payment_cancel(invoice_kind="tenant", invoice_id=invoice.pk)
    assert (payment.cancel_status, payment.stripe_status, payment.reconciliation_status) == (
        "refused",
        "succeeded",
        "mismatch",
    )
    assert payment.cancel_error == "You cannot cancel this PaymentIntent because it has a status of succeeded."
    assert services.invoice_payments_cancel_pending(now=timezone.now() + timedelta(hours=1)) == []


def test_an_intent_already_cancelled_in_stripe_counts_as_cancelled(
    fake_stripe, stripe_tenant, open_invoice, django_capture_on_commit_callbacks
):
    invoice, intent_id = open_invoice
    fake_stripe.objects["payment_intents"][intent_id]["status"] = "canceled"
    void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    services.invoice_payment_cancel(invoice_kind="tenant", invoice_id=invoice.pk)
    assert row() == ("canceled", "canceled", "")


def test_voiding_an_invoice_without_an_intent_closes_its_row_and_asks_nothing_of_stripe(
    fake_stripe, stripe_tenant, django_capture_on_commit_callbacks
):
    invoice = sent_tenant_invoice(stripe_tenant)
    assert every_row(InvoicePayment).values_list("open_state", flat=True).get() == "unopened"  # written by the send
    callbacks = void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    assert (len(callbacks), fake_stripe.requests) == (0, [])
    assert every_row(InvoicePayment).values_list("open_state", "open_note", "cancel_status").get() == (
        "abandoned",
        "invoice voided before its intent existed",
        "",
    )
    # The sweep never tries it again, and an open arriving late changes nothing.
    assert services.invoice_payments_unopened(now=timezone.now() + timedelta(hours=1)) == []
    late = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    )
    assert (late.open_state, late.stripe_payment_intent_id, fake_stripe.requests) == ("abandoned", None, [])


def test_a_marketplace_void_cancels_through_the_outbox(fake_stripe):
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
    marketplace_services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=2)
    assert row()[0] == ""  # the tenant database learns of it through the outbox
    outbox_relay_due()
    assert row()[0] == "pending"
    assert cancel_invoice_payment("marketplace", invoice.pk) == "canceled"
    assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
    assert cancels(fake_stripe) == [
        (
            f"/v1/payment_intents/{intent_id}/cancel",
            f"breederhq:invoice.payment_intent.cancel:marketplace:{invoice.pk}:{intent_id}",
        )
    ]


def test_an_intent_created_while_its_invoice_was_voided_is_cancelled_too(
    fake_stripe, stripe_tenant, django_capture_on_commit_callbacks
):
    """The void ran while the open was waiting for Stripe: it closed the row ("abandoned") with no
    intent to cancel; the open stores the intent it got, sees the void and asks for the cancel."""
    invoice = sent_tenant_invoice(stripe_tenant)
    void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    assert row()[0] == "" and every_row(InvoicePayment).get().open_state == "abandoned"
    # What the open does after Stripe answered: store the intent, re-read the invoice (void), ask.
    intent = StripeConnectProvider().execute(
        PaymentRequest(
            invoice_kind="tenant",
            invoice_id=invoice.pk,
            tenant_id=stripe_tenant.tenant.pk,
            amount_cents=25_000,
            currency="USD",
            connect_account_id=stripe_tenant.account.stripe_account_id,
            description="race",
            metadata=every_row(InvoicePayment).get().metadata(),
        )
    )
    every_row(InvoicePayment).update(
        stripe_payment_intent_id=intent.matching_id, stripe_status=intent.status, open_state="opened"
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert (
            services.invoice_payment_cancel_requested(
                invoice_kind="tenant", invoice_id=invoice.pk, intent_just_stored=True
            )
            == 1
        )
    assert (row()[0], len(callbacks)) == ("pending", 1)
    services.invoice_payment_cancel(invoice_kind="tenant", invoice_id=invoice.pk)
    assert row() == ("canceled", "canceled", "")
    assert fake_stripe.objects["payment_intents"][intent.matching_id]["status"] == "canceled"


def test_a_cancel_that_read_the_row_before_the_intent_was_stored_stays_pending(
    fake_stripe, stripe_tenant, open_invoice, django_capture_on_commit_callbacks
):
    """The cancel worker found no intent, then the open stored one before the worker saved: the
    worker must not call it "canceled" (a live intent on a void invoice); it stays pending and goes again."""
    invoice, intent_id = open_invoice
    void(invoice, stripe_tenant.tenant.pk, django_capture_on_commit_callbacks)
    payment = every_row(InvoicePayment).get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        saved = intent_cancel._save_cancel(
            payment.pk, owner=payment.owner_tenant_id, status="canceled", error="", intent_id=None
        )
    assert (saved.cancel_status, len(callbacks)) == ("pending", 1)
    assert cancel_invoice_payment("tenant", invoice.pk) == "canceled"
    assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
