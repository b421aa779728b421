"""The email queue.

`email_enqueue` is called inside the transaction of the event that causes the email; it renders the
text and HTML templates and stores an OutboundEmail row in the same database, and hands the send to
the publisher thread once that commits (breederhq/jobs/publish_later.py; the `send_due_emails` sweep
covers a lost message). `email_send` (run by a worker) claims the row (`sending`, with the attempt's
idempotency key) and commits before it calls the provider, outside any row lock, then records the
outcome. A worker that dies during the call leaves the row `sending`: once the claim is stale it is
sent again with the same key where the provider deduplicates (Resend), and otherwise marked
`delivery_unknown` for staff instead of being sent a second time. Provider outages count against a
circuit breaker shared by all workers (breederhq/email_breaker.py): while it is open, emails wait
`queued` instead of being tried.

An email may name attachments by reference (`attachments`, e.g. the invoice's PDF). They are
resolved by the worker before it claims the email (`ATTACHMENT_RESOLVERS`): one that cannot be had
yet (not rendered, storage down) counts as a failed attempt and the email waits for its retry, so
it never leaves without them.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.dispatch import Signal
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from breederhq.models import OutboundEmail
from breederhq.observability.metrics import EMAILS

logger = logging.getLogger(__name__)

#: Sent with `step="after_provider_call"` and `email=<OutboundEmail>` once the provider answered and
#: before the outcome is recorded. Tests inject faults through it; nothing in production listens.
email_step = Signal()


def _enqueue_send_after_commit(using: str, pk: int) -> None:
    """Once the caller's transaction commits, hand the send to the publisher thread: the request
    never waits on the broker. Redis down or the message lost: the row is safe and the beat sweep
    (`send_due_emails`) sends it later."""
    from breederhq.jobs.publish_later import publish_after_commit
    from breederhq.tasks import send_outbound_email

    publish_after_commit(send_outbound_email, using, pk, using=using)


def render_plain(template_name: str, context: dict) -> str:
    """A plain-text template (subject or body) rendered without HTML escaping: a name such as
    "Jo's Kennels" reads as written, not "Jo&#x27;s". Only the HTML body is escaped."""
    return get_template(template_name).template.render(Context(context, autoescape=False))


def email_enqueue(
    *, using: str, event_key: str, template: str, to: list[str], context: dict, attachments: list[dict] | None = None
) -> OutboundEmail:
    """Record one email for one event (idempotent by `event_key`). Call inside the event's transaction.
    `attachments`: references each resolved when the email is sent (`ATTACHMENT_RESOLVERS`)."""
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
            subject=render_plain(f"email/{template}.subject.txt", context).strip(),
            text_body=render_plain(f"email/{template}.txt", context),
            html_body=render_to_string(f"email/{template}.html", context),
            attachments=list(attachments or []),
            next_attempt_at=timezone.now(),
        )
        _enqueue_send_after_commit(using, email.pk)
    return email


def email_retry_delay(attempts: int) -> timedelta:
    ceiling = min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _provider_deduplicates(connection) -> bool:
    """Whether the backend passes the attempt key to a provider that drops a repeated send
    (breederhq.mail_backends.ResendEmailBackend)."""
    return bool(getattr(connection, "supports_idempotency_key", False))


def _stale_claim_before():
    return timezone.now() - timedelta(seconds=settings.EMAIL_SENDING_STALE_SECONDS)


def _claim(*, using: str, pk: int, connection) -> OutboundEmail | None:
    """Step 1, committed before the provider is called: the row becomes `sending` with the key of
    this attempt. A row left `sending` by a worker that died is taken again with the same key when
    the provider deduplicates; otherwise it becomes `delivery_unknown` (no silent second send).
    Returns the row; it is ours to send only when its status is `sending` afterwards and
    `_claimed` is set on it."""
    with transaction.atomic(using=using):
        email = OutboundEmail.objects.using(using).select_for_update(skip_locked=True).filter(pk=pk).first()
        if email is None:
            return None
        now = timezone.now()
        if email.status == OutboundEmail.Status.QUEUED:
            email.attempts += 1
            email.attempt_key = f"{email.event_key}:{uuid.uuid4().hex[:12]}"[:250]
        elif (
            email.status == OutboundEmail.Status.SENDING
            and email.claimed_at
            and email.claimed_at < _stale_claim_before()
        ):
            if not _provider_deduplicates(connection):
                email.status = OutboundEmail.Status.DELIVERY_UNKNOWN
                email.next_attempt_at = None
                email.last_error = (
                    "the worker sending it died after the provider call began; the provider "
                    "cannot tell whether it went out"
                )
                email.save(using=using, update_fields=["status", "next_attempt_at", "last_error"])
                EMAILS.labels(email.template, "delivery_unknown").inc()
                logger.error(
                    "email %s/%s: delivery unknown (worker died mid-send, provider without idempotency)", using, pk
                )
                return email
            logger.warning("email %s/%s: its worker died mid-send; trying again with the same key", using, pk)
        else:
            return email  # sent, failed, unknown, or being sent right now
        email.status = OutboundEmail.Status.SENDING
        email.claimed_at = now
        email.save(using=using, update_fields=["attempts", "attempt_key", "status", "claimed_at"])
        email._claimed = True
        return email


def email_send(*, using: str, pk: int) -> OutboundEmail | None:
    """Send one queued email, at most once per attempt key:

    1. claim the row (`sending`, with the attempt's idempotency key) and commit;
    2. call the provider, with no transaction open and no row locked;
    3. record the outcome, if the row is still ours (same status and key).

    A worker killed between 1 and 3 leaves the row `sending`; after EMAIL_SENDING_STALE_SECONDS it is
    sent again with the same key (the provider drops the duplicate) or, for a provider that cannot,
    marked `delivery_unknown` for staff. Returns the row, or None when there is none.

    While the provider's circuit breaker (breederhq/email_breaker.py) refuses, the email is not
    claimed: it stays `queued` and is due again when the provider may be tried (the returned row
    then has `waiting_for_provider` set).
    """
    from breederhq.email_breaker import ProviderRefused, call_provider, email_admission, end_probe

    connection = get_connection()
    admission = email_admission()
    if not admission.allowed:  # the provider's breaker is open: not claimed, not an attempt
        return _wait_for_provider(using=using, pk=pk, seconds=admission.wait_seconds)
    try:
        files = _attachments_or_postpone(using=using, pk=pk)
        if files is None:  # an attachment cannot be had yet: not claimed, retried later
            return OutboundEmail.objects.using(using).filter(pk=pk).first()
        email = _claim(using=using, pk=pk, connection=connection)
        if email is None or not getattr(email, "_claimed", False):
            return email
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.text_body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email.to,
            headers={"X-BreederHQ-Event": email.event_key},
        )
        if email.html_body:
            message.attach_alternative(email.html_body, "text/html")
        for filename, content, mimetype in files:
            message.attach(filename, content, mimetype)
        message.idempotency_key = email.attempt_key  # read by breederhq.mail_backends
        error = None
        try:
            call_provider(connection.send_messages, [message])
        except ProviderRefused:  # opened by another worker since the admission: the provider was not called
            return _release_claim(
                using=using, email=email, seconds=admission.wait_seconds or settings.EMAIL_BREAKER_RESET_SECONDS
            )
        except Exception as exc:
            error = exc
        email_step.send(sender=OutboundEmail, step="after_provider_call", email=email)
        return _record_outcome(using=using, email=email, message=message, error=error)
    finally:
        if admission.probing:
            end_probe()


def _wait_for_provider(*, using: str, pk: int, seconds: float) -> OutboundEmail | None:
    """The breaker refuses: a queued email stays queued, due again when the provider may be tried
    (the `send-due-emails` sweep sends it then); its attempts are not touched."""
    from django.db.models.functions import Greatest

    later = timezone.now() + timedelta(seconds=seconds)
    OutboundEmail.objects.using(using).filter(pk=pk, status=OutboundEmail.Status.QUEUED).update(
        next_attempt_at=Greatest("next_attempt_at", later)
    )
    email = OutboundEmail.objects.using(using).filter(pk=pk).first()
    if email is not None:
        email.waiting_for_provider = True
    return email


def _release_claim(*, using: str, email: OutboundEmail, seconds: float) -> OutboundEmail:
    """Undo a claim whose provider call never happened: queued again, the attempt not counted."""
    with transaction.atomic(using=using):
        row = OutboundEmail.objects.using(using).select_for_update().get(pk=email.pk)
        if row.status == OutboundEmail.Status.SENDING and row.attempt_key == email.attempt_key:
            row.status = OutboundEmail.Status.QUEUED
            row.attempts = max(row.attempts - 1, 0)
            row.claimed_at = None
            row.next_attempt_at = timezone.now() + timedelta(seconds=seconds)
            row.save(using=using, update_fields=["status", "attempts", "claimed_at", "next_attempt_at"])
    row.waiting_for_provider = True
    return row


#: The `type` of an attachment reference -> the function (dotted path) that turns the reference
#: into (file name, bytes, content type), raising while it cannot.
ATTACHMENT_RESOLVERS = {"invoice_document": "breederhq.invoicing.documents.email_attachment"}


def _attachments_or_postpone(*, using: str, pk: int) -> list[tuple[str, bytes, str]] | None:
    """The email's attachments, resolved before it is claimed (nothing is claimed while a document
    is being rendered). None when one cannot be had now: the email then stays `queued`, this
    counted as a failed attempt with its backoff (after EMAIL_MAX_ATTEMPTS it is `failed`, for staff)."""
    from django.utils.module_loading import import_string

    row = OutboundEmail.objects.using(using).filter(pk=pk).values("attachments", "status").first()
    if (
        row is None
        or not row["attachments"]
        or row["status"] not in (OutboundEmail.Status.QUEUED, OutboundEmail.Status.SENDING)
    ):
        return []
    try:
        return [import_string(ATTACHMENT_RESOLVERS[ref["type"]])(ref) for ref in row["attachments"]]
    except Exception as exc:  # the attachment's own problem: this email waits, nothing is sent
        logger.warning("email %s/%s: attachment not available yet: %s", using, pk, exc)
        with transaction.atomic(using=using):
            email = (
                OutboundEmail.objects.using(using)
                .select_for_update()
                .filter(pk=pk, status=OutboundEmail.Status.QUEUED)
                .first()
            )
            if email is not None:
                email.attempts += 1
                email.last_error = f"attachment not available: {type(exc).__name__}: {exc}"[:2000]
                if email.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                    email.status = OutboundEmail.Status.FAILED
                    email.next_attempt_at = None
                else:
                    email.next_attempt_at = timezone.now() + email_retry_delay(email.attempts)
                email.save(using=using, update_fields=["attempts", "last_error", "status", "next_attempt_at"])
                EMAILS.labels(
                    email.template, "failed" if email.status == OutboundEmail.Status.FAILED else "retry"
                ).inc()
        return None


def _record_outcome(*, using: str, email: OutboundEmail, message, error: Exception | None) -> OutboundEmail:
    with transaction.atomic(using=using):
        row = OutboundEmail.objects.using(using).select_for_update().get(pk=email.pk)
        if row.status != OutboundEmail.Status.SENDING or row.attempt_key != email.attempt_key:
            return row  # taken over meanwhile (staff resend, or a stale-claim retry): theirs to record
        if error is not None:
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            row.claimed_at = None
            if row.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                row.status = OutboundEmail.Status.FAILED
                row.next_attempt_at = None
            else:
                row.status = OutboundEmail.Status.QUEUED
                row.next_attempt_at = timezone.now() + email_retry_delay(row.attempts)
            row.save(using=using, update_fields=["last_error", "claimed_at", "status", "next_attempt_at"])
            EMAILS.labels(row.template, "failed" if row.status == OutboundEmail.Status.FAILED else "retry").inc()
            return row
        row.status = OutboundEmail.Status.SENT
        row.sent_at = timezone.now()
        row.next_attempt_at = None
        row.last_error = ""
        status = getattr(message, "anymail_status", None)
        row.provider_message_id = (getattr(status, "message_id", None) or "")[:200]
        _redact_sent_secrets(row)
        row.save(using=using)
        EMAILS.labels(row.template, "sent").inc()
        return row


#: Templates whose emails carry a single-use secret (an invitation token): the function (dotted path)
#: finds the secrets in a stored email. Once the email is sent the row keeps them no more (the back
#: office shows stored emails; the secret is meant to exist only in the recipient's mailbox). A sent
#: one resent by staff goes out without it: send a new invitation instead.
SECRETS_IN_TEMPLATES = {"tenant_invitation": "tenant_app.notifications.invitation_email_secrets"}
REDACTED = "[removed once sent]"


def _redact_sent_secrets(email: OutboundEmail) -> None:
    from django.utils.module_loading import import_string

    path = SECRETS_IN_TEMPLATES.get(email.template)
    if path is None:
        return
    for secret in import_string(path)(email):
        if secret:
            email.subject = email.subject.replace(secret, REDACTED)
            email.text_body = email.text_body.replace(secret, REDACTED)
            email.html_body = email.html_body.replace(secret, REDACTED)


def email_without_secrets(email: OutboundEmail) -> OutboundEmail:
    """A copy of the row as it may be shown (the back office): its secrets removed, sent or not."""
    from copy import copy

    shown = copy(email)
    _redact_sent_secrets(shown)
    return shown


def emails_due(*, using: str, limit: int = 500) -> list[int]:
    """Queued emails whose time has come, and claimed ones whose worker has died (stale `sending`)."""
    queued = list(
        OutboundEmail.objects.using(using)
        .filter(status=OutboundEmail.Status.QUEUED, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    stale = list(
        OutboundEmail.objects.using(using)
        .filter(status=OutboundEmail.Status.SENDING, claimed_at__lt=_stale_claim_before())
        .order_by("claimed_at")
        .values_list("pk", flat=True)[:limit]
    )
    return queued + stale


def email_resend(*, using: str, pk: int) -> OutboundEmail:
    """Support staff: send a failed (or sent) email again, as a new attempt series."""
    with transaction.atomic(using=using):
        email = OutboundEmail.objects.using(using).select_for_update().get(pk=pk)
        email.status = OutboundEmail.Status.QUEUED
        email.attempts = 0
        email.next_attempt_at = timezone.now()
        email.claimed_at = None
        email.save(using=using, update_fields=["status", "attempts", "next_attempt_at", "claimed_at"])
        _enqueue_send_after_commit(using, email.pk)
    return email
