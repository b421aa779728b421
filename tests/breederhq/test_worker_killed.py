"""A worker killed in the middle of sending an email: the email goes out once where the provider
deduplicates, and is never silently sent twice where it cannot."""

import os
import signal

import pytest

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.email import email_enqueue
from breederhq.models import OutboundEmail
from tests.fakes.email_backend import delivered
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def environment(tmp_path, backend: str, **extra) -> dict:
    return {
        "EMAIL_BACKEND": f"tests.fakes.email_backend.{backend}",
        "FLAKY_EMAIL_DIR": str(tmp_path),
        # Unacknowledged tasks come back after 3 s instead of an hour, and a claim is stale after
        # 2 s instead of 2 minutes, to keep the test short.
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "EMAIL_SENDING_STALE_SECONDS": "2",
        **extra,
    }


def kill(worker) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)  # the whole worker, mid-task, no warm shutdown
    worker.process.wait()


def status(email) -> str:
    return OutboundEmail.objects.using(TENANT_DB).get(pk=email.pk).status


def test_killed_after_the_provider_accepted_is_retried_with_the_same_key_and_delivered_once(
    start_celery_worker, tmp_path
):
    first = start_celery_worker(**environment(tmp_path, "IdempotentFileBackend", FLAKY_EMAIL_HOLD_AFTER="1"))
    email = email_enqueue(
        using=TENANT_DB,
        event_key="welcome:killed",
        template="welcome",
        to=["ada@example.test"],
        context={"name": "Ada", "url": "https://x.test"},
    )
    assert wait_until(lambda: (tmp_path / "accepted").exists(), timeout=60), "the provider never accepted it"
    kill(first)
    email.refresh_from_db()
    # The claim was committed before the provider call: the row says who had it, and with which key.
    assert (email.status, email.attempts) == ("sending", 1)
    key = email.attempt_key
    assert key.startswith("welcome:killed:")

    (tmp_path / "release").write_text("go")
    start_celery_worker(**environment(tmp_path, "IdempotentFileBackend"))
    assert wait_until(lambda: status(email) == "sent", timeout=60), "never redelivered"
    email.refresh_from_db()
    assert (email.attempts, email.attempt_key) == (1, key)
    sent = delivered(tmp_path)
    assert len(sent) == 1 and sent[0]["idempotency_key"] == key


@pytest.mark.parametrize("hold", ["FLAKY_EMAIL_HOLD", "FLAKY_EMAIL_HOLD_AFTER"])
def test_without_provider_idempotency_a_killed_send_becomes_delivery_unknown_not_a_second_send(
    start_celery_worker, tmp_path, hold
):
    first = start_celery_worker(**environment(tmp_path, "FlakyFileBackend", **{hold: "1"}))
    email = email_enqueue(
        using=TENANT_DB,
        event_key="welcome:unknown",
        template="welcome",
        to=["ada@example.test"],
        context={"name": "Ada", "url": "https://x.test"},
    )
    marker = "entered" if hold == "FLAKY_EMAIL_HOLD" else "accepted"
    assert wait_until(lambda: (tmp_path / marker).exists(), timeout=60), "the worker never started sending"
    kill(first)
    accepted_before_death = len(delivered(tmp_path))

    (tmp_path / "release").write_text("go")
    start_celery_worker(**environment(tmp_path, "FlakyFileBackend"))
    assert wait_until(lambda: status(email) == "delivery_unknown", timeout=60), status(email)
    email.refresh_from_db()
    assert "worker" in email.last_error
    assert len(delivered(tmp_path)) == accepted_before_death  # nothing more went out
