import logging

from celery import shared_task

from breederhq.errors import DomainError
from breederhq.jobs.scheduled import scheduled_job
from payments_app import collection, inbox_processing, intent_cancel
from payments_app.stripe_gateway import StripeUnavailable

logger = logging.getLogger(__name__)


@shared_task(
    name="payments_app.tasks.process_stripe_event",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
)
def process_stripe_event(event_pk: int) -> str | None:
    event = inbox_processing.stripe_event_process(event_pk=event_pk)
    return event.status if event else None


@shared_task(
    name="payments_app.tasks.process_stripe_events",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=600,
    time_limit=660,
)
def process_stripe_events(event_pks: list[int]) -> list[str | None]:
    """Several inbox events in one message (a burst coalesced by publish_later), one after the other.

    Each is safe to process twice, so a batch redelivered after a worker died is harmless. One event
    that raises does not stop the others: it stays RECEIVED/FAILED and the beat sweep
    (`retry_due_stripe_events`) picks it up."""
    statuses = []
    for event_pk in event_pks:
        try:
            event = inbox_processing.stripe_event_process(event_pk=event_pk)
        except Exception:
            logger.exception("stripe event %s could not be processed; the sweep will retry it", event_pk)
            statuses.append(None)
        else:
            statuses.append(event.status if event else None)
    return statuses


@scheduled_job("payments_app.tasks.retry_due_stripe_events", soft_time_limit=120, time_limit=150)
def retry_due_stripe_events() -> int:
    """Beat: enqueue every event whose backoff has passed, or whose first enqueue was lost."""
    due = inbox_processing.stripe_events_due()
    for event_pk in due:
        process_stripe_event.delay(event_pk)
    return len(due)


@shared_task(
    name="payments_app.tasks.open_invoice_payment",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def open_invoice_payment(invoice_kind: str, invoice_id: int, tenant_id: int | None = None) -> str | None:
    """Create the invoice's Stripe payment intent (once; safe to run again)."""
    payment = collection.invoice_payment_open(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    return payment.stripe_payment_intent_id


@shared_task(
    name="payments_app.tasks.cancel_invoice_payment",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def cancel_invoice_payment(invoice_kind: str, invoice_id: int) -> str | None:
    """Cancel a voided invoice's payment intent (after the void committed). An outage leaves it
    pending for the 5-minute sweep instead of retrying here."""
    try:
        payment = intent_cancel.invoice_payment_cancel(invoice_kind=invoice_kind, invoice_id=invoice_id)
    except StripeUnavailable:
        return "pending"
    return payment.cancel_status if payment else None


@scheduled_job("payments_app.tasks.reconcile_stripe", soft_time_limit=45 * 60, time_limit=50 * 60)
def reconcile_stripe() -> dict:
    """Beat, nightly: compare our invoice payments with Stripe; disagreements land in admin."""
    from payments_app.reconciliation import stripe_reconcile

    run = stripe_reconcile(trigger="beat")
    return {
        "run": run.pk,
        "synced": run.synced,
        "mismatch": run.mismatch,
        "missing_remote": run.missing_remote,
        "missing_local": run.missing_local,
    }


@scheduled_job("payments_app.tasks.open_unopened_invoice_payments", soft_time_limit=240, time_limit=270)
def open_unopened_invoice_payments() -> dict:
    """Beat: give every "unopened" Stripe payment its intent (same key: never two), close the ones
    whose invoice was voided or settled first ("abandoned"), and cancel the intents of voided
    invoices whose cancel has not happened yet.
    Stops at the first outage; the breaker would refuse the rest anyway."""
    result = _open_unopened()
    result.update(_cancel_pending())
    refunds = _resume_refunds()
    if any(refunds.values()):  # reported only when there was something to settle
        result.update(refunds)
    return result


@shared_task(name="payments_app.tasks.resume_refund_request", acks_late=True)
def resume_refund_request(request_pk: int, owner: int | None = None) -> str:
    """Send (or settle) a pending refund request: a duplicate card payment going back, or an API
    refund whose answer from Stripe never came. An outage leaves it pending for the sweep."""
    from payments_app.refunds import invoice_refund_resume

    try:
        return invoice_refund_resume(request_pk=request_pk, owner=owner).status
    except (StripeUnavailable, DomainError):
        return "pending"


def _resume_refunds() -> dict:
    from payments_app.refunds import invoice_refund_resume, invoice_refunds_pending

    settled = refund_pending = 0
    for request_pk, owner in invoice_refunds_pending():
        try:
            done = invoice_refund_resume(request_pk=request_pk, owner=owner)
        except (StripeUnavailable, DomainError):
            refund_pending += 1
            break
        if done.status != "pending":
            settled += 1
    return {"refunds_settled": settled, "refunds_pending": refund_pending}


def _cancel_pending() -> dict:
    cancelled = cancel_pending = 0
    for payment in intent_cancel.invoice_payments_cancel_pending():
        try:
            done = intent_cancel.invoice_payment_cancel(
                invoice_kind=payment.invoice_kind, invoice_id=payment.invoice_id
            )
        except StripeUnavailable:
            cancel_pending += 1
            break
        if done is not None and done.cancel_status != "pending":
            cancelled += 1
    return {"cancelled": cancelled, "cancel_pending": cancel_pending}


def _open_unopened() -> dict:
    opened = failed = abandoned = 0
    for payment in collection.invoice_payments_unopened():
        try:
            done = collection.invoice_payment_open(
                invoice_kind=payment.invoice_kind, invoice_id=payment.invoice_id, tenant_id=payment.owner_tenant_id
            )
        except StripeUnavailable:
            failed += 1
            break
        except DomainError as exc:
            # Account not onboarded or unusable, ...: tried again later, behind the others.
            collection.invoice_payment_note_open_failure(
                payment_pk=payment.pk, owner_tenant_id=payment.owner_tenant_id, reason=f"{exc.code}: {exc}"
            )
            failed += 1
        else:
            if done.open_state == "abandoned":
                abandoned += 1  # voided or settled before its intent existed: closed, not retried
            else:
                opened += 1
    return {"opened": opened, "failed": failed, "abandoned": abandoned}
