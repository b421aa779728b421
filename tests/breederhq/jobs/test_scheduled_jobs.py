"""Scheduled jobs run once at a time, record their outcome, and beat's schedule is all real tasks."""

import threading

import pytest
from django.db import connections

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.jobs.models import JobStatus
from breederhq.jobs.scheduled import scheduled_job
from config.beat_schedule import BEAT_SCHEDULE

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)

gate = {"entered": threading.Event(), "release": threading.Event()}
calls = []


@scheduled_job("tests.jobs.slow")
def slow_job():
    calls.append("slow")
    gate["entered"].set()
    gate["release"].wait(timeout=30)
    return {"done": 1}


@scheduled_job("tests.jobs.broken")
def broken_job():
    raise ValueError("bad data in row 7")


def test_a_run_is_recorded_with_its_result():
    gate["entered"].clear()
    gate["release"].set()
    assert slow_job.apply().get() == {"done": 1}
    status = JobStatus.objects.get(name="tests.jobs.slow")
    assert (status.last_outcome, status.runs, status.failures, status.last_result) == ("succeeded", 1, 0, '{"done": 1}')
    assert status.last_finished_at >= status.last_started_at


def test_a_failure_is_recorded_and_raised():
    with pytest.raises(ValueError):
        broken_job.apply(throw=True)
    status = JobStatus.objects.get(name="tests.jobs.broken")
    assert (status.last_outcome, status.runs, status.failures) == ("failed", 1, 1)
    assert status.last_error == "ValueError: bad data in row 7"


@pytest.mark.slow
def test_two_ticks_at_once_run_the_job_once():
    calls.clear()
    gate["entered"].clear()
    gate["release"].clear()
    results = {}

    def first():
        try:
            results["first"] = slow_job.apply().get()
        finally:
            connections[TENANT_DB].close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert gate["entered"].wait(timeout=30)
        results["second"] = slow_job.apply().get()
    finally:
        gate["release"].set()
        thread.join(timeout=30)
    assert calls == ["slow"]
    assert results == {"first": {"done": 1}, "second": {"skipped": "already running"}}
    status = JobStatus.objects.get(name="tests.jobs.slow")
    assert (status.runs, status.skips, status.last_outcome) == (1, 1, "succeeded")


def test_every_beat_entry_names_a_registered_task():
    from config.celery import app

    app.loader.import_default_modules()
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name} names an unknown task {entry['task']}"


def test_beat_writes_the_schedule_to_the_database_and_keeps_admin_changes():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from breederhq.jobs.scheduler import ScheduleDefaultsDatabaseScheduler
    from config.celery import app

    ScheduleDefaultsDatabaseScheduler(app=app)
    assert set(BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))
    # Support staff disable one job and slow another down in the admin...
    PeriodicTask.objects.filter(name="send-due-emails").update(enabled=False)
    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=300, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="retry-due-stripe-events").update(interval=every_five_minutes)
    PeriodicTask.objects.filter(name="outbox-purge").delete()
    ScheduleDefaultsDatabaseScheduler(app=app)  # ...then beat restarts (a deploy)
    assert PeriodicTask.objects.get(name="send-due-emails").enabled is False
    assert PeriodicTask.objects.get(name="retry-due-stripe-events").interval.every == 300
    assert PeriodicTask.objects.filter(name="outbox-purge").exists()  # a missing job comes back from the file


def test_beat_is_configured_with_this_scheduler():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "breederhq.jobs.scheduler:ScheduleDefaultsDatabaseScheduler"
