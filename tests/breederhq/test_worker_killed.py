"""A worker killed in the middle of a task: the task runs again and has exactly one effect."""

import os
import signal
import time

import pytest

from breederhq.email import email_enqueue
from breederhq.models import OutboundEmail
from config.database_routing import DATABASE_ALIASES
from tests.fakes.email_backend import delivered

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def wait_until(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_email_task_killed_mid_send_is_redelivered_and_sent_once(start_celery_worker, tmp_path):
    worker_environment = {
        "EMAIL_BACKEND": "tests.fakes.email_backend.FlakyFileBackend",
        "FLAKY_EMAIL_DIR": str(tmp_path),
        "FLAKY_EMAIL_HOLD": "1",
        # Unacknowledged tasks come back after 3 s instead of an hour, to keep the test short.
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    first = start_celery_worker(**worker_environment)
    email = email_enqueue(using="default", event_key="welcome:killed", template="welcome",
                          to=["ada@example.test"], context={"name": "Ada", "url": "https://x.test"})
    assert wait_until(lambda: (tmp_path / "entered").exists()), "the worker never started sending"

    os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, mid-task, no warm shutdown
    first.process.wait()
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("queued", 0)  # its transaction died with it

    (tmp_path / "release").write_text("go")
    start_celery_worker(**worker_environment)
    assert wait_until(lambda: OutboundEmail.objects.using("default").get(pk=email.pk).status == "sent"), "never redelivered"
    email.refresh_from_db()
    assert email.attempts == 1
    assert len(delivered(tmp_path)) == 1
