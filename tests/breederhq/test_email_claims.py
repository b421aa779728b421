"""Sending an email: the claim is committed before the provider call, the call holds no row lock, and
a claim left behind by a dead worker is retried with the same key or marked `delivery_unknown`."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connections, transaction
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.email import email_enqueue, email_send, emails_due
from breederhq.models import OutboundEmail

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
seen_during_call: list = []


class PeekingBackend(LocmemBackend):
    """While "the provider" is called, another connection reads the row and locks it (NOWAIT)."""

    def send_messages(self, messages):
        def peek():
            try:
                with transaction.atomic(using=TENANT_DB):
                    row = (
                        OutboundEmail.objects.using(TENANT_DB)
                        .select_for_update(nowait=True)
                        .get(event_key="welcome:peek")
                    )
                    seen_during_call.append((row.status, row.attempt_key, messages[0].idempotency_key))
            except Exception as exc:  # a lock held by the sender would land here
                seen_during_call.append(exc)
            finally:
                connections[TENANT_DB].close()

        thread = threading.Thread(target=peek)
        thread.start()
        thread.join(30)
        return super().send_messages(messages)


class DeduplicatingBackend(LocmemBackend):
    supports_idempotency_key = True
    keys: list = []

    def send_messages(self, messages):
        self.keys.extend(m.idempotency_key for m in messages)
        return super().send_messages(messages)


def enqueue(key: str) -> OutboundEmail:
    return email_enqueue(
        using=TENANT_DB,
        event_key=key,
        template="welcome",
        to=["ada@example.test"],
        context={"name": "Ada", "url": "https://x.test"},
    )


def test_the_claim_is_committed_and_the_row_unlocked_during_the_provider_call(settings):
    settings.EMAIL_BACKEND = f"{__name__}.PeekingBackend"
    seen_during_call.clear()
    email = enqueue("welcome:peek")
    sent = email_send(using=TENANT_DB, pk=email.pk)
    assert len(seen_during_call) == 1 and not isinstance(seen_during_call[0], Exception), seen_during_call
    status, key, given_to_provider = seen_during_call[0]
    assert status == "sending" and key == given_to_provider and key.startswith("welcome:peek:")
    assert (sent.status, sent.attempts, sent.attempt_key) == ("sent", 1, key)


def abandon_claim(email: OutboundEmail, *, seconds_ago: int) -> None:
    """What a worker that died after claiming leaves behind."""
    OutboundEmail.objects.using(TENANT_DB).filter(pk=email.pk).update(
        status="sending",
        attempts=1,
        attempt_key=f"{email.event_key}:dead",
        claimed_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_a_fresh_claim_is_left_to_its_worker(settings):
    settings.EMAIL_BACKEND = f"{__name__}.DeduplicatingBackend"
    email = enqueue("welcome:fresh")
    abandon_claim(email, seconds_ago=1)
    assert email.pk not in emails_due(using=TENANT_DB)
    assert email_send(using=TENANT_DB, pk=email.pk).status == "sending"
    assert mail.outbox == []


def test_a_stale_claim_is_sent_again_with_the_same_key_when_the_provider_deduplicates(settings):
    settings.EMAIL_BACKEND = f"{__name__}.DeduplicatingBackend"
    DeduplicatingBackend.keys.clear()
    email = enqueue("welcome:stale")
    abandon_claim(email, seconds_ago=settings.EMAIL_SENDING_STALE_SECONDS + 5)
    assert email.pk in emails_due(using=TENANT_DB)  # the sweep finds it
    sent = email_send(using=TENANT_DB, pk=email.pk)
    assert (sent.status, sent.attempts, sent.attempt_key) == ("sent", 1, "welcome:stale:dead")
    assert DeduplicatingBackend.keys == ["welcome:stale:dead"]


def test_a_stale_claim_becomes_delivery_unknown_when_the_provider_cannot_deduplicate(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    email = enqueue("welcome:unknown")
    abandon_claim(email, seconds_ago=settings.EMAIL_SENDING_STALE_SECONDS + 5)
    row = email_send(using=TENANT_DB, pk=email.pk)
    assert row.status == "delivery_unknown" and "died" in row.last_error
    assert mail.outbox == []
    assert email.pk not in emails_due(using=TENANT_DB)
    assert email_send(using=TENANT_DB, pk=email.pk).status == "delivery_unknown"  # and it stays so
