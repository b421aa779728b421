"""A crontab job whose fire times passed while beat was down runs once when beat starts again, in the
slot of the latest missed fire time: two beats starting together, or a beat restarted before it
stored the run, send that same slot, and the slot lock lets it run once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab

from breederhq.databases import DATABASE_ALIASES
from breederhq.jobs.models import JobStatus
from breederhq.jobs.scheduled import slot_for
from tests.breederhq.jobs.slot_job import NAME
from tests.fixtures.celery_worker import WorkerProcess
from tests.waiting import wait_until


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def test_a_crontab_slot_is_its_latest_fire_time_until_the_next():
    daily = crontab(minute=30, hour=3)
    expected = f"{epoch(at(2024, 5, 10, 3, 30))}/86400"
    # Fired on time, a little late, and made up for hours later (beat down since the day before):
    assert slot_for(daily, now=at(2024, 5, 10, 3, 30, 0)) == expected
    assert slot_for(daily, now=at(2024, 5, 10, 3, 30, 40)) == expected
    assert slot_for(daily, now=at(2024, 5, 11, 3, 29)) == expected
    # Three fire times missed: one slot, the latest.
    assert slot_for(daily, now=at(2024, 5, 12, 9, 0)) == f"{epoch(at(2024, 5, 12, 3, 30))}/86400"
    weekly = crontab(minute=0, hour=2, day_of_week="sun")  # 2024-05-05 was a Sunday
    assert slot_for(weekly, now=at(2024, 5, 10, 9, 17)) == f"{epoch(at(2024, 5, 5, 2, 0))}/604800"
    every_five = crontab(minute="*/5")
    assert slot_for(every_five, now=at(2024, 5, 10, 9, 17, 33)) == f"{epoch(at(2024, 5, 10, 9, 15))}/300"


def app_an_hour_ahead():
    """A Celery app configured like ours whose clock (`app.now()`, what beat stamps slots by) runs
    an hour ahead: a beat that starts later."""
    from celery import Celery

    class Later(Celery):
        def now(self):
            return super().now() + timedelta(hours=1)

    later = Later("breederhq-later-beat")
    later.config_from_object("django.conf:settings", namespace="CELERY")
    return later


@pytest.mark.worker
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
@pytest.mark.usefixtures("empty_queues")
def test_beat_down_over_a_slot_runs_the_missed_job_once(tmp_path, django_db_setup):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from breederhq.jobs.scheduler import ScheduleDefaultsDatabaseScheduler
    from config.celery import app

    ScheduleDefaultsDatabaseScheduler(app=app)
    PeriodicTask.objects.update(enabled=False)  # only the test job
    now = datetime.now(UTC)
    fire = (now - timedelta(hours=2)).replace(second=0, microsecond=0)  # daily, two hours ago
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute=str(fire.minute),
        hour=str(fire.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    # The stored last run: three days ago. Beat was down over three fire times of the job.
    three_days_ago = now - timedelta(days=3)
    job = PeriodicTask.objects.create(
        name="slot-recorder-daily", task=NAME, crontab=daily, enabled=True, last_run_at=three_days_ago
    )

    record = tmp_path / "slots.txt"
    record.touch()
    worker = WorkerProcess(
        queues="default", include="tests.breederhq.jobs.slot_job", extra_environment={"SLOT_JOB_FILE": str(record)}
    ).start()
    try:
        # Two beats start after the outage (a deploy, high availability): each sends the job once.
        first, second = (ScheduleDefaultsDatabaseScheduler(app=app) for _ in range(2))
        first.tick()
        second.tick()
        # One of them restarts, an hour later by its clock, before it stored the run: it sends the
        # job again, for the same slot.
        PeriodicTask.objects.filter(pk=job.pk).update(last_run_at=three_days_ago)
        ScheduleDefaultsDatabaseScheduler(app=app_an_hour_ahead()).tick()
        # The first one ticks on: the job is not due again until tomorrow.
        first.tick()

        def ran_three_times() -> bool:
            status = JobStatus.objects.filter(name=NAME).first()
            return status is not None and status.runs + status.skips >= 3

        wait_until(ran_three_times, timeout=60, interval=0.2)
        time.sleep(1)  # anything else sent would have run by now
    finally:
        worker.stop()
    runs = record.read_text().splitlines()
    assert [line.split()[0] for line in runs] == [f"{epoch(fire)}/86400"]  # once, for the latest missed fire
    status = JobStatus.objects.get(name=NAME)
    assert (status.runs, status.skips) == (1, 2)
