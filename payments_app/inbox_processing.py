"""The Stripe webhook inbox, processing side: apply one stored event through its handler
(payments_app/webhook_handlers.py) exactly once whatever the number of workers, count attempts,
back off and dead-letter, list the events due again, and let support staff requeue one."""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import NotFound
from breederhq.observability.metrics import WEBHOOK_EVENTS
from payments_app.inbox import INVALID_EVENT_OUTCOME, enqueue_processing
from payments_app.models import StripeWebhookEvent
from payments_app.webhook_handlers import HANDLERS

logger = logging.getLogger(__name__)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped at six hours."""
    ceiling = min(settings.STRIPE_WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


#: The top 16 bits of the advisory lock key that claims an inbox event for one worker ("WH").
_EVENT_CLAIM_NAMESPACE = 0x5748 << 48


@contextmanager
def _event_claim(event_pk: int):
    """A session-level advisory lock on the event for the whole of its processing (both
    transactions): a second worker given the same event (a duplicate delivery's message, a batch
    and a single one, the sweep) steps aside instead of counting an attempt of its own between the
    first worker's attempt count and its handler. Gone with the connection if the worker dies."""
    key = _EVENT_CLAIM_NAMESPACE | event_pk
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        claimed = cursor.fetchone()[0]
    try:
        yield claimed
    finally:
        if claimed:
            try:
                with connections[TENANT_DB].cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except Exception:  # the connection broke: the lock went with it; make sure it is not reused
                logger.warning("could not release the claim on stripe event %s; closing the connection", event_pk)
                connections[TENANT_DB].close()


def stripe_event_process(*, event_pk: int) -> StripeWebhookEvent | None:
    """Apply one inbox event. Safe to call any number of times, from any number of workers.

    0. Claim it (`_event_claim`): a worker that cannot returns None at once, as for a locked row.
    1. Count the attempt in its own committed transaction, so a worker killed mid-event still counts
       and a poison event cannot loop forever.
    2. Lock the event, run its handler and mark it succeeded in one transaction: the effect and the
       "done" mark commit together or not at all.
    3. On failure, record the error and the next attempt (or dead-letter it) in a fresh transaction.
    """
    if event_pk >= 1 << 48:
        raise ValueError(f"stripe event pk {event_pk} does not fit the claim's key")
    with _event_claim(event_pk) as claimed:
        if not claimed:
            return None  # another worker is processing it
        return _stripe_event_process_claimed(event_pk)


def _stripe_event_process_claimed(event_pk: int) -> StripeWebhookEvent | None:
    with transaction.atomic(using=TENANT_DB):
        event = (
            StripeWebhookEvent.objects.using(TENANT_DB).select_for_update(skip_locked=True).filter(pk=event_pk).first()
        )
        if event is None:
            return None  # another worker holds it, or it does not exist
        if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
            return event  # succeeded, ignored or dead: processed before
        if event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
            event.status = StripeWebhookEvent.Status.DEAD
            event.next_attempt_at = None
            event.save(using=TENANT_DB, update_fields=["status", "next_attempt_at"])
            return event
        event.attempts += 1
        event.save(using=TENANT_DB, update_fields=["attempts"])

    try:
        with transaction.atomic(using=TENANT_DB):
            event = StripeWebhookEvent.objects.using(TENANT_DB).select_for_update().get(pk=event_pk)
            if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
                return event
            handler = HANDLERS.get(event.event_type)
            if handler is None:
                event.status = StripeWebhookEvent.Status.IGNORED
                event.outcome = "no handler for this event type"
            else:
                event.outcome = (handler(event) or "")[:300]
                event.status = StripeWebhookEvent.Status.SUCCEEDED
            event.last_error = ""
            event.next_attempt_at = None
            event.processed_at = timezone.now()
            event.save(using=TENANT_DB)
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event
    except Exception as exc:
        logger.exception("stripe event %s failed", event_pk)
        with transaction.atomic(using=TENANT_DB):
            event = StripeWebhookEvent.objects.using(TENANT_DB).select_for_update().get(pk=event_pk)
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if getattr(exc, "permanent", False):
                # The event itself is wrong (an amount that is not an integer): retrying cannot help.
                event.status = StripeWebhookEvent.Status.DEAD
                event.next_attempt_at = None
                event.outcome = f"dead-lettered: {exc}"[:300]
            elif event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
                event.status = StripeWebhookEvent.Status.DEAD
                event.next_attempt_at = None
            else:
                event.status = StripeWebhookEvent.Status.FAILED
                event.next_attempt_at = timezone.now() + retry_delay(event.attempts)
            event.save(using=TENANT_DB, update_fields=["last_error", "status", "next_attempt_at", "outcome"])
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event


def stripe_events_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Ids of events waiting to be (re)processed now: failed ones past their backoff, and received
    ones whose enqueue was lost (Redis down at the time, worker killed)."""
    now = now or timezone.now()
    return list(
        StripeWebhookEvent.objects.using(TENANT_DB)
        .filter(
            status__in=[StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED], next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def stripe_event_requeue(*, event_pk: int) -> StripeWebhookEvent:
    """Support staff: give a dead-lettered (or failed) event a fresh set of attempts, now."""
    with transaction.atomic(using=TENANT_DB):
        try:
            event = StripeWebhookEvent.objects.using(TENANT_DB).select_for_update().get(pk=event_pk)
        except StripeWebhookEvent.DoesNotExist:
            raise NotFound(f"No Stripe event #{event_pk}.") from None
        if event.status in {StripeWebhookEvent.Status.SUCCEEDED, StripeWebhookEvent.Status.IGNORED}:
            return event
        if event.outcome.startswith(INVALID_EVENT_OUTCOME):
            return event  # not an event that processing could read: it stays dead-lettered
        event.status = StripeWebhookEvent.Status.FAILED
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.save(using=TENANT_DB, update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: enqueue_processing(event.pk), using=TENANT_DB)
    return event
