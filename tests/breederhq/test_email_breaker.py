"""The email provider's circuit breaker: repeated outages open it, emails then wait queued (not lost,
not counted as attempts), one probe at a time tries the provider again, and every email is sent once.

The provider is tests/fakes/email_backend.py's FlakyFileBackend: out while a `down` file is in its
folder, every call counted."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.db import connections
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.email import email_enqueue, email_send
from breederhq.email_breaker import email_breaker, email_provider_status, is_provider_outage
from breederhq.health import platform_health
from breederhq.models import OutboundEmail
from breederhq.tasks import send_due_emails
from tests.fakes.email_backend import delivered, provider_calls
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)

FAIL_MAX = 3
RESET_SECONDS = 2


@pytest.fixture
def provider(settings, tmp_path, monkeypatch):
    """The flaky provider, down, with a breaker that opens after FAIL_MAX outages for RESET_SECONDS."""
    settings.EMAIL_BACKEND = "tests.fakes.email_backend.FlakyFileBackend"
    settings.EMAIL_BREAKER_FAIL_MAX = FAIL_MAX
    settings.EMAIL_BREAKER_RESET_SECONDS = RESET_SECONDS
    settings.EMAIL_MAX_ATTEMPTS = 10
    email_breaker.cache_clear()
    monkeypatch.setenv("FLAKY_EMAIL_DIR", str(tmp_path))
    (tmp_path / "down").write_text("")
    return tmp_path


def enqueue(n: int) -> list[OutboundEmail]:
    return [
        email_enqueue(
            using=TENANT_DB,
            event_key=f"welcome:breaker:{i}",
            template="welcome",
            to=[f"user{i}@example.test"],
            context={"name": f"User {i}", "url": "https://x.test"},
        )
        for i in range(n)
    ]


def rows() -> dict[str, tuple[str, int]]:
    return {e.event_key: (e.status, e.attempts) for e in OutboundEmail.objects.using(TENANT_DB).order_by("pk")}


def make_all_due() -> None:
    """As if the backoffs had passed."""
    OutboundEmail.objects.using(TENANT_DB).filter(status="queued").update(next_attempt_at=timezone.now())


def pass_the_open_period() -> None:
    """As if RESET_SECONDS had passed since the breaker opened: the moment it opened, shared in Redis
    (whole Unix seconds, as pybreaker stores it), moved back by more than that, so this process's
    admission and pybreaker's own open state both find the open period over, without waiting."""
    storage = email_breaker()._state_storage
    storage._redis.set(storage._namespace("opened_at"), int(time.time()) - RESET_SECONDS - 1)


def open_the_breaker() -> list[OutboundEmail]:
    emails = enqueue(FAIL_MAX)
    for email in emails:
        email_send(using=TENANT_DB, pk=email.pk)
    assert email_provider_status()["state"] == "open"
    return emails


def test_repeated_outages_open_the_breaker_and_emails_wait_queued(provider):
    emails = enqueue(6)
    results = [email_send(using=TENANT_DB, pk=e.pk) for e in emails]
    # The first FAIL_MAX reached the provider and failed; then it stopped being called.
    assert provider_calls(provider) == FAIL_MAX
    status = email_provider_status()
    assert status["state"] == "open" and status["failures"] == FAIL_MAX and "retry_at" in status
    assert [r.status for r in results] == ["queued"] * 6
    assert [r.attempts for r in results] == [1] * FAIL_MAX + [0] * 3  # a refusal is not an attempt
    assert all(getattr(r, "waiting_for_provider", False) for r in results[FAIL_MAX:])
    # Nothing lost: every row is still there, queued, due once the provider may be tried.
    assert set(rows().values()) == {("queued", 1), ("queued", 0)} and len(rows()) == 6
    assert min(r.next_attempt_at for r in results[FAIL_MAX:]) > timezone.now()
    # The sweep does not hammer it either while it is open.
    make_all_due()
    result = send_due_emails.apply().get()
    assert result["default"] == 0 and result["provider_breaker"] == "open"
    # /healthz: a degraded dependency, not a failing one.
    health = platform_health()
    assert health["components"]["email_provider"]["status"] == "degraded"
    assert health["components"]["email_provider"]["breaker"] == "open"
    assert "email_provider" in health["degraded"] and "email_provider" not in health["down"]
    assert provider_calls(provider) == FAIL_MAX


def test_the_probe_closes_it_when_the_provider_recovers_and_each_email_goes_once(provider):
    open_the_breaker()
    late = enqueue(FAIL_MAX + 2)[FAIL_MAX:]  # two more, refused while it is open
    assert all(getattr(email_send(using=TENANT_DB, pk=e.pk), "waiting_for_provider", False) for e in late)
    (provider / "down").unlink()  # the provider is back
    pass_the_open_period()
    make_all_due()
    # The sweep enqueues one email only, the probe...
    assert send_due_emails.apply().get()["default"] == 1
    first = OutboundEmail.objects.using(TENANT_DB).order_by("pk").first()
    assert email_send(using=TENANT_DB, pk=first.pk).status == "sent"
    assert email_provider_status()["state"] == "closed"
    # ...and once it has closed, all of them.
    assert send_due_emails.apply().get()["default"] == FAIL_MAX + 1
    for row in OutboundEmail.objects.using(TENANT_DB).filter(status="queued"):
        assert email_send(using=TENANT_DB, pk=row.pk).status == "sent"
    assert {status for status, _ in rows().values()} == {"sent"} and len(rows()) == FAIL_MAX + 2
    sent_events = [m["headers"]["X-BreederHQ-Event"] for m in delivered(provider)]
    assert sorted(sent_events) == sorted(rows())  # each email exactly once
    assert provider_calls(provider) == FAIL_MAX + FAIL_MAX + 2
    # Attempts count provider calls only: one failure then a success, or a success alone.
    assert sorted(attempts for _, attempts in rows().values()) == [1, 1] + [2] * FAIL_MAX


def test_a_failed_probe_opens_it_again(provider):
    emails = open_the_breaker()
    pass_the_open_period()
    opened_at = email_provider_status()["opened_at"]
    make_all_due()
    probe = email_send(using=TENANT_DB, pk=emails[0].pk)
    assert (probe.status, probe.attempts) == ("queued", 2)
    assert probe.last_error == "ConnectionError: simulated provider outage (down)"
    status = email_provider_status()
    assert status["state"] == "open" and status["opened_at"] > opened_at
    # Right after, everything waits again.
    assert getattr(email_send(using=TENANT_DB, pk=emails[1].pk), "waiting_for_provider", False)
    assert provider_calls(provider) == FAIL_MAX + 1


@pytest.mark.slow
def test_only_one_probe_at_a_time(provider, monkeypatch):
    emails = open_the_breaker()
    (provider / "down").unlink()
    pass_the_open_period()
    make_all_due()
    monkeypatch.setenv("FLAKY_EMAIL_HOLD", "1")  # the probe's call waits for `release`
    outcome = {}

    def probe():
        try:
            outcome["probe"] = email_send(using=TENANT_DB, pk=emails[0].pk).status
        finally:
            connections[TENANT_DB].close()

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        assert wait_until((provider / "entered").exists, timeout=30, interval=0.05)
        # While the probe is out, another worker's email is not claimed and the provider not called.
        other = email_send(using=TENANT_DB, pk=emails[1].pk)
        assert getattr(other, "waiting_for_provider", False) and (other.status, other.attempts) == ("queued", 1)
        assert provider_calls(provider) == FAIL_MAX + 1
    finally:
        (provider / "release").write_text("")
        thread.join(30)
    assert outcome["probe"] == "sent"
    assert email_provider_status()["state"] == "closed"
    make_all_due()
    assert email_send(using=TENANT_DB, pk=emails[1].pk).status == "sent"
    assert len(delivered(provider)) == 2


def test_the_breaker_opened_by_a_worker_process_holds_for_every_process(provider, start_celery_worker):
    """Sends by a real worker open it; this process (another one) then sees it open."""
    start_celery_worker(
        EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend",
        FLAKY_EMAIL_DIR=str(provider),
        EMAIL_BREAKER_FAIL_MAX="2",
        EMAIL_BREAKER_RESET_SECONDS="300",
        EMAIL_MAX_ATTEMPTS="10",
    )
    enqueue(2)  # sent by the worker after commit: both fail, the second opens the breaker
    wait_until(lambda: email_provider_status()["state"] == "open", timeout=60, interval=0.2)
    email_breaker.cache_clear()  # a fresh breaker object, as in any other process
    assert email_provider_status()["state"] == "open"
    later = enqueue(4)[2:]
    for email in later:  # refused here, in this process, without calling the provider
        assert getattr(email_send(using=TENANT_DB, pk=email.pk), "waiting_for_provider", False)
    time.sleep(1)  # the worker's messages for them, refused there too
    assert provider_calls(provider) == 2
    assert set(rows().values()) == {("queued", 1), ("queued", 0)}


def _api_error(status: int | None):
    from anymail.exceptions import AnymailRequestsAPIError

    response = None
    if status is not None:
        response = requests.Response()
        response.status_code = status
    return AnymailRequestsAPIError("provider said no", response=response)


def test_which_errors_count_as_provider_outages():
    from anymail.exceptions import AnymailInvalidAddress, AnymailRecipientsRefused

    assert is_provider_outage(ConnectionError("refused"))
    assert is_provider_outage(TimeoutError("timed out"))
    assert is_provider_outage(_api_error(None))  # no answer at all
    assert is_provider_outage(_api_error(503)) and is_provider_outage(_api_error(429))
    assert not is_provider_outage(_api_error(422))  # this email's problem, not the provider's
    assert not is_provider_outage(AnymailRecipientsRefused("all refused"))
    assert not is_provider_outage(AnymailInvalidAddress("not an address"))
    assert not is_provider_outage(ValueError("a bug of ours"))


def test_redis_down_sends_without_the_breaker(provider, settings):
    """Fail-safe: without Redis the breaker's state is unknown and the email goes to the provider."""
    (provider / "down").unlink()
    email = enqueue(1)[0]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    email_breaker.cache_clear()
    assert email_provider_status()["state"] == "unknown"
    assert email_send(using=TENANT_DB, pk=email.pk).status == "sent"
    assert len(delivered(provider)) == 1
