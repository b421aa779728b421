"""Two real beat processes firing the same schedule: each slot of a job runs exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.jobs.models import JobStatus
from tests.breederhq.jobs.slot_job import NAME
from tests.fixtures.celery_worker import BASE_DIR, WorkerProcess
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True),
    pytest.mark.usefixtures("empty_queues"),
]


def start_beat(environment: dict, tmp_path, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            "WARNING",
            "--pidfile",
            str(tmp_path / f"beat-{n}.pid"),
            "--max-interval",
            "1",
        ],
        cwd=BASE_DIR,
        env=environment,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_two_beats_run_each_slot_of_a_job_once(tmp_path, django_db_setup):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from breederhq.jobs.scheduler import ScheduleDefaultsDatabaseScheduler
    from config.celery import app

    # Only the test job is enabled: the real ones are written from the defaults, then turned off.
    ScheduleDefaultsDatabaseScheduler(app=app)
    PeriodicTask.objects.update(enabled=False)
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="slot-recorder", task=NAME, interval=every_two_seconds, enabled=True)

    record = tmp_path / "slots.txt"
    record.touch()
    worker = WorkerProcess(
        queues="default", include="tests.breederhq.jobs.slot_job", extra_environment={"SLOT_JOB_FILE": str(record)}
    ).start()
    beats = []
    try:
        environment = worker.environment()
        beats = [start_beat(environment, tmp_path, n) for n in (1, 2)]

        def both_beats_fired_some_slot_and_four_slots_ran():
            status = JobStatus.objects.filter(name=NAME).first()
            return status is not None and status.skips >= 2 and len(record.read_text().splitlines()) >= 4

        assert wait_until(both_beats_fired_some_slot_and_four_slots_ran, timeout=90), (
            record.read_text(),
            list(JobStatus.objects.filter(name=NAME).values()),
        )
    finally:
        for beat in beats:
            stop(beat)
        # What the beats sent before they stopped is run (or skipped) before the worker stops.
        time.sleep(3)
        worker.stop()
    slots = [line.split()[0] for line in record.read_text().splitlines()]
    assert "None" not in slots
    assert len(slots) == len(set(slots)), slots
    status = JobStatus.objects.get(name=NAME)
    assert status.runs == len(slots)
