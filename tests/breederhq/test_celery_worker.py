"""A real worker process takes a task from the real Redis broker and returns its result, and stops
without dropping the task it runs."""

import os
import signal

import pytest
from celery import current_app

from breederhq.databases import DATABASE_ALIASES
from breederhq.tasks import ping
from tests.fixtures.celery_worker import QUEUES, WorkerProcess, discard_waiting_tasks
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES))]


def test_ping_round_trip_through_a_real_worker(celery_worker):
    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    assert result.successful()


def test_tasks_are_acknowledged_late_and_requeued_when_the_worker_dies():
    from config.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options["visibility_timeout"] >= 3600


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
@pytest.mark.usefixtures("empty_queues")
def test_a_stopped_worker_finishes_its_task_and_leaves_nothing_for_the_next_one(tmp_path):
    """Stopping a worker (SIGTERM, as a deploy or `docker compose stop` does) is a warm shutdown: the
    task it is running finishes and is acknowledged, so no later worker runs it a second time."""
    record = tmp_path / "record.txt"
    record.touch()

    def worker() -> WorkerProcess:
        return WorkerProcess(
            queues="default", include="tests.breederhq.jobs.slot_job", extra_environment={"SLOT_JOB_FILE": str(record)}
        ).start()

    first = worker()
    try:
        current_app.send_task("tests.jobs.take_time", args=[1.5], queue="default")
        assert wait_until(lambda: "start" in record.read_text(), timeout=30)
    finally:
        first.stop()
    assert record.read_text().split() == ["start", "end"]

    second = worker()
    try:
        # A message given back to the queue would be taken before this one (one task at a time).
        assert ping.delay().get(timeout=30) == "pong"
    finally:
        second.stop()
    assert record.read_text().split() == ["start", "end"]


def test_a_test_starts_with_its_queues_empty(django_db_setup):
    """What an earlier test left waiting is discarded before a test's worker starts
    (tests/fixtures/celery_worker.py), from every queue the application routes to, and so is what a
    killed worker held unacknowledged (the next worker would take it back)."""
    from django.conf import settings

    for queue in QUEUES:
        current_app.send_task("breederhq.tasks.ping", queue=queue)
    with current_app.connection_for_write(url=settings.CELERY_BROKER_URL) as connection:
        channel = connection.default_channel
        channel.client.hset(channel.unacked_key, "held-by-a-killed-worker", "{}")
        channel.client.zadd(channel.unacked_index_key, {"held-by-a-killed-worker": 1})
        assert discard_waiting_tasks() == len(QUEUES) + 1
        assert channel.client.hlen(channel.unacked_key) == 0
    assert discard_waiting_tasks() == 0


def test_a_killed_worker_leaves_no_heartbeat_behind(django_db_setup):
    """A worker killed without its warm shutdown cannot remove its heartbeat; stopping it does, so
    the next test (a health check expecting no worker) does not see one for WORKER_HEARTBEAT_TTL."""
    from breederhq.health import check_celery_workers

    worker = WorkerProcess(queues="default").start()
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert worker.hostname in check_celery_workers().get("workers", [])  # what it left
    worker.stop()
    assert worker.hostname not in check_celery_workers().get("workers", [])
