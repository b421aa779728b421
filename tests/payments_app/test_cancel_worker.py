"""Cancelling a voided invoice's payment intent through a real Celery worker process, including a
worker SIGKILLed in the middle of the cancel: the redelivered task completes it, with one effect
in Stripe (same idempotency key; the retry is answered from Stripe's idempotency cache)."""

import os
import signal

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app.models import InvoicePayment
from payments_app.tasks import open_unopened_invoice_payments
from tenant_app import services as tenant_services
from tests.payments_app.conftest import every_row, sent_tenant_invoice
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def worker_environment(fake_stripe, **extra):
    return {"STRIPE_API_BASE": fake_stripe.url, "STRIPE_SECRET_KEY": "sk_test_fake", **extra}


def opened_invoice(stripe_tenant):
    """Sent (the worker opens its intent after the send commits); returns (invoice, intent id)."""
    invoice = sent_tenant_invoice(stripe_tenant)
    assert wait_until(
        lambda: every_row(InvoicePayment).filter(stripe_payment_intent_id__isnull=False).exists(), timeout=60
    ), "the worker never opened the intent"
    return invoice, every_row(InvoicePayment).get().stripe_payment_intent_id


def void(invoice, tenant_id):
    with tenant_context(tenant_id):
        tenant_services.invoice_void(invoice_id=invoice.pk, reason="sent by mistake")


def cancel_requests(fake_stripe):
    return [
        (r["idempotency_key"], r.get("replayed"))
        for r in fake_stripe.requests_to("POST", "/v1/payment_intents/")
        if r["path"].endswith("/cancel")
    ]


def row():
    return every_row(InvoicePayment).values_list("cancel_status", "stripe_status").get()


def test_the_worker_cancels_a_voided_invoices_intent(fake_stripe, stripe_tenant, start_celery_worker):
    start_celery_worker(**worker_environment(fake_stripe))
    invoice, intent_id = opened_invoice(stripe_tenant)
    void(invoice, stripe_tenant.tenant.pk)
    assert wait_until(lambda: row()[0] == "canceled", timeout=60), row()
    assert row() == ("canceled", "canceled")
    assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
    key = f"breederhq:invoice.payment_intent.cancel:tenant:{invoice.pk}:{intent_id}"
    assert cancel_requests(fake_stripe) == [(key, False)]


def test_a_worker_killed_mid_cancel_is_completed_once_by_the_redelivered_task(
    fake_stripe, stripe_tenant, start_celery_worker
):
    environment = worker_environment(
        fake_stripe,
        # Unacknowledged tasks come back after 3 s instead of an hour, to keep the test short.
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    first = start_celery_worker(**environment)
    invoice, intent_id = opened_invoice(stripe_tenant)
    # Stripe cancels the intent, but its answer never reaches the worker: it is killed first.
    entered, release = fake_stripe.hold_next("POST", "/cancel")
    void(invoice, stripe_tenant.tenant.pk)
    assert entered.wait(timeout=60), "the worker never called Stripe"
    os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, mid-task, no warm shutdown
    first.process.wait()
    release.set()
    assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
    assert row() == ("pending", "requires_payment_method")  # our side never heard back

    start_celery_worker(**environment)
    assert wait_until(lambda: row()[0] == "canceled", timeout=60), "the task was never redelivered"
    assert row() == ("canceled", "canceled")
    key = f"breederhq:invoice.payment_intent.cancel:tenant:{invoice.pk}:{intent_id}"
    # Two calls, one key: the second was answered from Stripe's idempotency cache (no second effect).
    assert cancel_requests(fake_stripe) == [(key, False), (key, True)]
    # Nothing is left for the sweep.
    assert open_unopened_invoice_payments()["cancelled"] == 0
    assert cancel_requests(fake_stripe) == [(key, False), (key, True)]
