"""Core tasks: thin wrappers that take ids and call one function."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from breederhq.jobs.scheduled import scheduled_job

logger = logging.getLogger(__name__)

#: A task that schedules its own next attempt does so only this far ahead; a later attempt is left to
#: the beat sweep. A message waiting for its time is held unacknowledged by a worker, so this plus
#: the task's hard time limit must stay under the broker's visibility timeout (or Redis would hand
#: the message to a second worker): tests/breederhq/test_task_limits.py checks it.
RESCHEDULES_WITHIN = 10 * 60
#: crossdb_check stops after the batch that crosses this (seconds), inside its soft time limit
#: (breederhq.jobs.scheduled.DEFAULT_SOFT_TIME_LIMIT, 10 minutes) and its 15-minute period.
CROSSDB_CHECK_BUDGET_SECONDS = 8 * 60


def _reschedule(task, args: tuple, kwargs: dict, *, at) -> None:
    countdown = max(0.0, (at - timezone.now()).total_seconds())
    if countdown > task.reschedules_within:
        return  # the sweep (send_due_emails / outbox_relay_due) picks it up when it is due
    task.apply_async(args, kwargs, countdown=countdown)


@shared_task(name="breederhq.tasks.ping", soft_time_limit=10, time_limit=20)
def ping() -> str:
    """A round trip through the broker and a worker, for health checks and tests."""
    return "pong"


@shared_task(name="breederhq.tasks.database_session_limits", soft_time_limit=30, time_limit=45)
def database_session_limits() -> dict[str, dict[str, str]]:
    """The time limits a worker's database sessions run with, per database (breederhq/db_timeouts.py):
    for operators checking a deployment, and tests."""
    from django.db import connections

    from breederhq.databases import DATABASE_ALIASES

    limits = {}
    for alias in DATABASE_ALIASES:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')"
            )
            statement, idle = cursor.fetchone()
        limits[alias] = {"statement_timeout": statement, "idle_in_transaction_session_timeout": idle}
    return limits


@scheduled_job("breederhq.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> dict[str, int]:
    """Beat: drop Idempotency-Keys older than 24 h, in each database."""
    from breederhq.databases import DATABASE_ALIASES
    from breederhq.idempotency import purge_expired_idempotency_keys as purge

    return {alias: purge(using=alias) for alias in DATABASE_ALIASES}


@shared_task(
    name="breederhq.tasks.send_outbound_email",
    ignore_result=True,
    acks_late=True,
    bind=True,
    soft_time_limit=60,
    time_limit=90,
    reschedules_within=RESCHEDULES_WITHIN,
)
def send_outbound_email(self, using: str, pk: int) -> str | None:
    from breederhq.email import email_send

    email = email_send(using=using, pk=pk)
    if getattr(email, "waiting_for_provider", False):
        pass  # the provider's breaker is open: the sweep sends it once the provider may be tried
    elif email is not None and email.status == email.Status.QUEUED and email.next_attempt_at:
        # Failed this time: try again after the backoff (the sweep would too, if this is lost).
        _reschedule(self, (using, pk), {}, at=email.next_attempt_at)
    elif email is not None and email.status == email.Status.SENDING and email.claimed_at:
        # Claimed by another worker: come back when that claim would be stale (its worker died, or
        # this is a duplicate message and the row is sent by then).
        from datetime import timedelta

        from django.conf import settings

        _reschedule(
            self, (using, pk), {}, at=email.claimed_at + timedelta(seconds=settings.EMAIL_SENDING_STALE_SECONDS + 1)
        )
    return email.status if email else None


@shared_task(
    name="breederhq.tasks.render_invoice_document",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    autoretry_for=(Exception,),
    dont_autoretry_for=(ValueError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def render_invoice_document(ref: dict) -> str:
    """Render and store one invoice or credit-note PDF (breederhq/invoicing/documents.py), once:
    a second run finds it. Published when the change that issues it commits; the invoice email's
    worker renders it too if this has not run yet. A transient failure (storage, database) retries
    with backoff; an invoice that was never sent has no document."""
    from breederhq.errors import NotFound
    from breederhq.invoicing.documents import DocumentNotIssued, DocumentRef, document_ensure

    try:
        _, created = document_ensure(DocumentRef.from_dict(ref))
    except (DocumentNotIssued, NotFound) as exc:
        logger.warning("invoice document %s not rendered: %s", ref, exc)
        return "nothing_to_render"
    return "rendered" if created else "already_stored"


@scheduled_job("breederhq.tasks.send_due_emails", soft_time_limit=120, time_limit=150)
def send_due_emails() -> dict[str, int | str]:
    """Beat: enqueue queued emails whose first enqueue was lost (Redis down) or whose retry is due.

    While the provider's breaker is open nothing is enqueued (the emails wait, queued); once its
    open period is over, one email goes out as the probe, and the rest follow when it has closed."""
    from breederhq.databases import DATABASE_ALIASES
    from breederhq.email import emails_due
    from breederhq.email_breaker import email_provider_status

    provider = email_provider_status()
    limit = 500
    if (
        provider["state"] == "open"
        and "retry_at" in provider
        and (datetime.fromisoformat(provider["retry_at"]) > timezone.now())
    ):
        limit = 0
    elif provider["state"] in ("open", "half-open"):
        limit = 1
    counts = {}
    for alias in DATABASE_ALIASES:
        due = emails_due(using=alias, limit=limit) if limit else []
        due = due[:limit]
        for pk in due:
            send_outbound_email.delay(alias, pk)
        counts[alias] = len(due)
        if due and limit == 1:
            limit = 0  # one probe in all
    if provider["state"] != "closed":
        counts["provider_breaker"] = provider["state"]
    return counts


@shared_task(
    name="breederhq.tasks.outbox_relay_message",
    ignore_result=True,
    bind=True,
    soft_time_limit=120,
    time_limit=150,
    reschedules_within=RESCHEDULES_WITHIN,
)
def outbox_relay_message_task(self, source: str, message_pk: int) -> str:
    """Relay one outbox message; enqueued when the transaction that wrote it commits.

    Safe to run twice (the message row is locked and re-checked). After a failed attempt it
    schedules itself for the message's next attempt; the beat sweep covers a lost task.
    """
    from breederhq.models import OutboxMessage
    from breederhq.outbox import RelayOutcome, outbox_relay_message

    outcome = outbox_relay_message(source=source, message_pk=message_pk)
    if outcome == RelayOutcome.RETRY:
        next_attempt_at = (
            OutboxMessage.objects.using(source).filter(pk=message_pk).values_list("next_attempt_at", flat=True).first()
        )
        if next_attempt_at is not None:
            _reschedule(self, (), {"source": source, "message_pk": message_pk}, at=next_attempt_at)
    return outcome


@scheduled_job("breederhq.tasks.outbox_relay_due")
def outbox_relay_due_task() -> dict[str, int]:
    """Beat sweep: relay every pending outbox message that is due, in both databases."""
    from breederhq.outbox import outbox_relay_due

    return outbox_relay_due()


@scheduled_job("breederhq.tasks.crossdb_check")
def crossdb_check_task(
    stuck_after_minutes: int = 30, mode: str = "incremental", time_budget_seconds: float = CROSSDB_CHECK_BUDGET_SECONDS
) -> dict:
    """Beat job: the cross-database integrity check, logging every problem as an error. Every 15
    minutes incrementally (the rows changed since the last run), nightly in full (`mode="full"`);
    either stops after its time budget, well inside its time limit, and the next run of that mode
    resumes where it stopped (breederhq/crossdb_check/)."""
    from breederhq.crossdb_check import run_crossdb_check

    report = run_crossdb_check(
        mode=mode, stuck_after_minutes=stuck_after_minutes, time_budget_seconds=time_budget_seconds
    )
    for problem in report["problems"]:
        logger.error("crossdb_check: %s", problem)
    return {
        "ok": report["ok"],
        "mode": mode,
        "complete": report["complete"],
        "problems": len(report["problems"]),
        "checked": report["checked"],
        **({"skipped": report["skipped"]} if "skipped" in report else {}),
    }


@scheduled_job("breederhq.tasks.outbox_purge")
def outbox_purge_task() -> dict[str, int]:
    """Beat job: drop applied outbox messages and recorded message ids past their retention."""
    from breederhq.outbox import outbox_purge

    return outbox_purge()


@scheduled_job("breederhq.tasks.flush_expired_tokens")
def flush_expired_tokens() -> str:
    """Beat: drop expired refresh tokens from simplejwt's outstanding/blacklist tables, and the sign-in
    families none of whose tokens can still be used (breederhq.api.sessions)."""
    from django.core.management import call_command

    from breederhq.api.sessions import families_purge

    call_command("flushexpiredtokens", verbosity=0)
    return f"flushed, {families_purge()} sign-in families dropped"
