"""The email queue (DESIGN section 2, issue 8).

`email_enqueue` is called inside the transaction of the event that causes the email; it renders the
text and HTML templates and stores an OutboundEmail row in the same database, and enqueues sending
after commit. `email_send` (run by a worker) sends it at most once per provider idempotency key:
the row is locked while it is sent and marked sent in the same transaction, and the provider gets
the event key as its idempotency key, so a worker that dies between sending and committing cannot
make the retry deliver twice.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from breederhq.models import OutboundEmail
from breederhq.observability.metrics import EMAILS

logger = logging.getLogger(__name__)


def _enqueue_send_after_commit(using: str, pk: int) -> None:
    """Once the caller's transaction commits, hand the send to the publisher thread: the request
    never waits on the broker. Redis down or the message lost: the row is safe and the beat sweep
    (`send_due_emails`) sends it later."""
    from breederhq.jobs.publish_later import publish_after_commit
    from breederhq.tasks import send_outbound_email

    publish_after_commit(send_outbound_email, using, pk, using=using)


def email_enqueue(*, using: str, event_key: str, template: str, to: list[str], context: dict) -> OutboundEmail:
    """Record one email for one event (idempotent by `event_key`). Call inside the event's transaction."""
    if not to:
        raise ValueError("an email needs at least one recipient")
    with transaction.atomic(using=using):
        existing = OutboundEmail.objects.using(using).filter(event_key=event_key).first()
        if existing is not None:
            return existing
        email = OutboundEmail.objects.using(using).create(
            event_key=event_key,
            template=template,
            to=list(to),
            subject=render_to_string(f"email/{template}.subject.txt", context).strip(),
            text_body=render_to_string(f"email/{template}.txt", context),
            html_body=render_to_string(f"email/{template}.html", context),
            next_attempt_at=timezone.now(),
        )
        _enqueue_send_after_commit(using, email.pk)
    return email


def email_retry_delay(attempts: int) -> timedelta:
    ceiling = min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def email_send(*, using: str, pk: int) -> OutboundEmail | None:
    """Send one queued email. Returns the row, or None when another worker is sending it now."""
    with transaction.atomic(using=using):
        email = (
            OutboundEmail.objects.using(using).select_for_update(skip_locked=True).filter(pk=pk).first()
        )
        if email is None or email.status != OutboundEmail.Status.QUEUED:
            return email
        email.attempts += 1
        message = EmailMultiAlternatives(
            subject=email.subject, body=email.text_body, from_email=settings.DEFAULT_FROM_EMAIL, to=email.to,
            headers={"X-BreederHQ-Event": email.event_key},
        )
        if email.html_body:
            message.attach_alternative(email.html_body, "text/html")
        message.idempotency_key = email.event_key  # read by breederhq.mail_backends
        try:
            get_connection().send_messages([message])
        except Exception as exc:
            email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if email.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                email.status = OutboundEmail.Status.FAILED
                email.next_attempt_at = None
            else:
                email.next_attempt_at = timezone.now() + email_retry_delay(email.attempts)
            email.save(using=using, update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            EMAILS.labels(email.template, "failed" if email.status == OutboundEmail.Status.FAILED else "retry").inc()
            return email
        email.status = OutboundEmail.Status.SENT
        email.sent_at = timezone.now()
        email.next_attempt_at = None
        email.last_error = ""
        status = getattr(message, "anymail_status", None)
        email.provider_message_id = (getattr(status, "message_id", None) or "")[:200]
        email.save(using=using)
        EMAILS.labels(email.template, "sent").inc()
        return email


def emails_due(*, using: str, limit: int = 500) -> list[int]:
    return list(
        OutboundEmail.objects.using(using)
        .filter(status=OutboundEmail.Status.QUEUED, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )


def email_resend(*, using: str, pk: int) -> OutboundEmail:
    """Support staff: send a failed (or sent) email again, as a new attempt series."""
    with transaction.atomic(using=using):
        email = OutboundEmail.objects.using(using).select_for_update().get(pk=pk)
        email.status = OutboundEmail.Status.QUEUED
        email.attempts = 0
        email.next_attempt_at = timezone.now()
        email.save(using=using, update_fields=["status", "attempts", "next_attempt_at"])
        _enqueue_send_after_commit(using, email.pk)
    return email
