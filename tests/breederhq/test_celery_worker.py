"""A real worker process takes a task from the real Redis broker and returns its result."""

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tasks import ping

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
