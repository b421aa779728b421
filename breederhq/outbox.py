"""The outbox: a change in one database that must cause a change in the other.

Writing side, inside the service's own transaction::

    with transaction.atomic(using="default"):
        invoice.status = "paid"
        invoice.save(update_fields=["status"])
        outbox_enqueue(using="default", topic="tenant.invoice_paid", payload={"invoice_id": invoice.pk})

Applying side, in the target app's `outbox_handlers.py` (autodiscovered at start-up)::

    @outbox_handler("tenant.invoice_paid", applies_in="marketplace")
    def mark_transactions_paid(payload: dict) -> None:
        ...  # runs inside atomic(using="marketplace"); lock, re-check, act

Delivery is at-least-once; the effect happens exactly once, because the relay runs the handler and
inserts the message id into `outbox_applied_messages` of the target database in one transaction
(the id is unique there), and a message whose id is already recorded is only marked applied.

The relay is `outbox_relay_message` (a Celery task enqueued when the source transaction commits)
plus `outbox_relay_due` (the beat sweep for anything the task missed: broker down, worker killed,
retries). A failing message is retried with exponential backoff and after OUTBOX_MAX_ATTEMPTS it
stays in the source database with status "stuck", its attempts, last_error and
last_attempt_at (next_attempt_at empty: nothing will retry it), until `outbox_message_requeue` puts it back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.dispatch import Signal
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.errors import Conflict, NotFound
from breederhq.models import AppliedMessage, OutboxMessage

logger = logging.getLogger(__name__)

#: Sent at each step between the two databases with `step=<name>` and `message=<OutboxMessage>`:
#: "enqueue.before_commit", "enqueue.after_commit", "relay.before_effect", "relay.after_effect" (the
#: effect is done, the message id not yet recorded) and "relay.after_target_commit" (the target
#: database committed, the source row is not yet marked applied). Tests inject faults through it;
#: nothing in production listens.
outbox_step = Signal()


def _step(step: str, message: OutboxMessage) -> None:
    outbox_step.send(sender=OutboxMessage, step=step, message=message)


# --- Handlers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxHandler:
    topic: str
    applies_in: str
    func: Callable[[dict], None]


_HANDLERS: dict[str, OutboxHandler] = {}


def outbox_handler(topic: str, *, applies_in: str) -> Callable:
    """Register the function that applies messages of `topic` in database `applies_in`.

    The function takes the payload and runs inside `atomic(using=applies_in)`, the same transaction
    that records the message id: raise to roll the effect back and have the message retried.
    """
    if applies_in not in DATABASE_ALIASES:
        raise ImproperlyConfigured(f"outbox handler {topic!r}: unknown database {applies_in!r}")

    def register(func: Callable[[dict], None]) -> Callable[[dict], None]:
        existing = _HANDLERS.get(topic)
        # Re-registering the same function (a module imported twice) is harmless; a second,
        # different handler would make delivery depend on import order.
        if existing is not None and _qualified(existing.func) != _qualified(func):
            raise ImproperlyConfigured(f"outbox topic {topic!r} already has a handler: {_qualified(existing.func)}")
        _HANDLERS[topic] = OutboxHandler(topic=topic, applies_in=applies_in, func=func)
        return func

    return register


def _qualified(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def outbox_handler_for(topic: str) -> OutboxHandler:
    try:
        return _HANDLERS[topic]
    except KeyError:
        raise ImproperlyConfigured(
            f"no outbox handler for topic {topic!r}; declare one with @outbox_handler in an app's outbox_handlers.py"
        ) from None


# --- Writing ---------------------------------------------------------------------------------------


def outbox_enqueue(*, using: str, topic: str, payload: dict) -> OutboxMessage:
    """Write a message in the caller's open transaction on `using`; it is relayed once that commits.

    Refused outside a transaction on `using` (the message and the change causing it must commit or
    roll back together) and for a topic whose handler applies in the same database (no outbox is
    needed there: do the change in the same transaction).
    """
    handler = outbox_handler_for(topic)
    if handler.applies_in == using:
        raise ImproperlyConfigured(
            f"outbox topic {topic!r} applies in {using!r}, the database it is written in; change "
            f"that row in the same transaction instead"
        )
    if not connections[using].in_atomic_block:
        raise transaction.TransactionManagementError(
            f"outbox_enqueue(using={using!r}) must run inside transaction.atomic(using={using!r}), "
            f"together with the change that causes the message"
        )
    message = OutboxMessage.objects.using(using).create(
        topic=topic, payload=payload, target_db=handler.applies_in, next_attempt_at=timezone.now()
    )
    _step("enqueue.before_commit", message)
    # robust: the caller's change is committed by now; nothing after it may turn it into an error.
    # The publish itself happens on the publisher thread (breederhq/jobs/publish_later.py), so a
    # broker that is down or silent never holds the caller; the sweep relays whatever it loses.
    # (A closure, not functools.partial: Django logs a robust callback's failure by __qualname__.)
    transaction.on_commit(lambda: _dispatch(using, message), using=using, robust=True)
    return message


def _dispatch(source: str, message: OutboxMessage) -> None:
    from breederhq.jobs.publish_later import publish_later
    from breederhq.tasks import outbox_relay_message_task

    _step("enqueue.after_commit", message)
    publish_later(outbox_relay_message_task, source, message.pk)


# --- Relaying --------------------------------------------------------------------------------------


class RelayOutcome:
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"  # the effect was done before; now also marked in the source
    RETRY = "retry"
    STUCK = "stuck"
    SKIPPED = "skipped"  # locked by another relay right now, or no longer pending


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failure, capped."""
    base = getattr(settings, "OUTBOX_RETRY_BASE_SECONDS", 30)
    cap = getattr(settings, "OUTBOX_RETRY_MAX_SECONDS", 1800)
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def max_attempts() -> int:
    return getattr(settings, "OUTBOX_MAX_ATTEMPTS", 8)


def outbox_relay_message(*, source: str, message_pk: int, now: datetime | None = None) -> str:
    """Apply one pending message of database `source` in its target database.

    The source row stays locked (FOR UPDATE SKIP LOCKED) for the whole attempt, so two relays never
    apply one message at the same time: the second one skips it.
    """
    now = now or timezone.now()
    with transaction.atomic(using=source):
        message = (
            OutboxMessage.objects.using(source)
            .select_for_update(skip_locked=True)
            .filter(pk=message_pk, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:
            return RelayOutcome.SKIPPED
        try:
            outcome = _apply(message, source=source)
        except Exception as exc:
            return _record_failure(message, exc, now=now)
        _step("relay.after_target_commit", message)
        message.status = OutboxMessage.Status.APPLIED
        message.applied_at = now
        message.last_attempt_at = now
        message.next_attempt_at = None
        message.save(update_fields=["status", "applied_at", "last_attempt_at", "next_attempt_at"])
        return outcome


def _apply(message: OutboxMessage, *, source: str) -> str:
    handler = outbox_handler_for(message.topic)
    if handler.applies_in != message.target_db:
        raise ImproperlyConfigured(
            f"outbox topic {message.topic!r} now applies in {handler.applies_in!r} but message "
            f"{message.message_id} was written for {message.target_db!r}"
        )
    with transaction.atomic(using=message.target_db):
        if AppliedMessage.objects.using(message.target_db).filter(message_id=message.message_id).exists():
            return RelayOutcome.ALREADY_APPLIED
        _step("relay.before_effect", message)
        handler.func(message.payload)
        _step("relay.after_effect", message)
        # Unique message_id: should anything ever run this twice at once, the second insert fails
        # and takes its effect down with it.
        AppliedMessage.objects.using(message.target_db).create(
            message_id=message.message_id, source_db=source, topic=message.topic
        )
    return RelayOutcome.APPLIED


def _record_failure(message: OutboxMessage, exc: Exception, *, now: datetime) -> str:
    message.attempts += 1
    message.last_attempt_at = now
    message.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    if message.attempts >= max_attempts():
        message.status = OutboxMessage.Status.STUCK
        message.next_attempt_at = None
        logger.error(
            "outbox message %s (%s) is stuck after %s attempts: %s",
            message.message_id,
            message.topic,
            message.attempts,
            message.last_error,
        )
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)
        logger.warning(
            "outbox message %s (%s) failed, attempt %s: %s",
            message.message_id,
            message.topic,
            message.attempts,
            message.last_error,
        )
    message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at", "last_attempt_at"])
    return RelayOutcome.STUCK if message.status == OutboxMessage.Status.STUCK else RelayOutcome.RETRY


def outbox_relay_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The sweep: relay every pending message that is due, in both databases (oldest first)."""
    now = now or timezone.now()
    outcomes: Counter[str] = Counter()
    for alias in DATABASE_ALIASES:
        due = list(
            OutboxMessage.objects.using(alias)
            .filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        for pk in due:
            outcomes[outbox_relay_message(source=alias, message_pk=pk, now=now)] += 1
    return dict(outcomes)


def outbox_message_requeue(*, using: str, message_id) -> OutboxMessage:
    """Give a stuck or overdue message a fresh set of attempts (after fixing what made it fail).

    A stuck message goes back to pending; a pending one waiting out its backoff is made due now.
    Either way attempts restart at 0 and the relay picks it up once this commits (a task is
    dispatched, and the sweep would find it anyway). An applied message is refused (Conflict).
    """
    with transaction.atomic(using=using):
        message = OutboxMessage.objects.using(using).select_for_update().filter(message_id=message_id).first()
        if message is None:
            raise NotFound(f"no outbox message {message_id} in {using}")
        if message.status == OutboxMessage.Status.APPLIED:
            raise Conflict(
                f"outbox message {message_id} was applied at {message.applied_at:%Y-%m-%d %H:%M}; "
                f"there is nothing to requeue"
            )
        message.status = OutboxMessage.Status.PENDING
        message.attempts = 0
        message.next_attempt_at = timezone.now()
        message.save(update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _dispatch(using, message), using=using, robust=True)
    return message


def outbox_purge(
    *, older_than: timedelta | None = None, now: datetime | None = None, batch_size: int = 1000
) -> dict[str, int]:
    """Delete applied messages, and recorded message ids, older than OUTBOX_RETENTION_DAYS (30).

    A recorded id is kept while its source message is not applied yet (the relay may still come
    back with it after a crash between the two commits), whatever its age.
    """
    now = now or timezone.now()
    cutoff = now - (older_than or timedelta(days=getattr(settings, "OUTBOX_RETENTION_DAYS", 30)))
    deleted: Counter[str] = Counter()
    for target in DATABASE_ALIASES:
        deleted[f"{target}:outbox_applied_messages"] += 0
        last_pk = 0
        while True:
            batch = list(
                AppliedMessage.objects.using(target)
                .filter(applied_at__lt=cutoff, pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", "message_id", "source_db")[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1][0]
            open_ids = set()
            for source in {source for _, _, source in batch}:
                open_ids |= set(
                    OutboxMessage.objects.using(source)
                    .filter(message_id__in=[mid for _, mid, s in batch if s == source])
                    .exclude(status=OutboxMessage.Status.APPLIED)
                    .values_list("message_id", flat=True)
                )
            purgeable = [pk for pk, mid, _ in batch if mid not in open_ids]
            deleted[f"{target}:outbox_applied_messages"] += (
                AppliedMessage.objects.using(target).filter(pk__in=purgeable).delete()[0]
            )
    for source in DATABASE_ALIASES:
        deleted[f"{source}:outbox_messages"] += (
            OutboxMessage.objects.using(source)
            .filter(status=OutboxMessage.Status.APPLIED, applied_at__lt=cutoff)
            .delete()[0]
        )
    return dict(deleted)
