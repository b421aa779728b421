"""`@scheduled_job`: a Celery task for beat that runs once at a time and records how it went.

Only one beat should run, but a deploy overlap or a job slower than its interval can still start it
twice; a Redis lock per job makes the second start a recorded "skipped" instead of a second run.
The lock expires after `lock_timeout` seconds, so a worker killed mid-job does not block it forever.
"""

from __future__ import annotations

import functools
import json
import time

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from breederhq.health import redis_client
from breederhq.jobs.models import JobStatus


def _record(name: str, **fields) -> None:
    counters = {k: F(k) + v for k, v in fields.pop("increment", {}).items()}
    updated = JobStatus.objects.using("default").filter(name=name).update(**fields, **counters)
    if not updated:
        JobStatus.objects.using("default").get_or_create(name=name)
        JobStatus.objects.using("default").filter(name=name).update(**fields, **counters)


def scheduled_job(name: str, *, lock_timeout: int = 15 * 60, **task_options):
    def decorate(function):
        @shared_task(name=name, **task_options)
        @functools.wraps(function)
        def run(*args, **kwargs):
            lock = redis_client().lock(
                f"{settings.CELERY_KEY_PREFIX}breederhq:job-lock:{name}", timeout=lock_timeout, blocking=False
            )
            if not lock.acquire():
                _record(name, last_outcome=JobStatus.Outcome.SKIPPED, increment={"skips": 1})
                return {"skipped": "already running"}
            started = time.monotonic()
            _record(name, last_started_at=timezone.now(), last_outcome=JobStatus.Outcome.RUNNING)
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                _record(
                    name, last_finished_at=timezone.now(), last_outcome=JobStatus.Outcome.FAILED,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    last_duration_ms=int((time.monotonic() - started) * 1000),
                    increment={"runs": 1, "failures": 1},
                )
                raise
            else:
                _record(
                    name, last_finished_at=timezone.now(), last_outcome=JobStatus.Outcome.SUCCEEDED,
                    last_result=json.dumps(result, default=str)[:2000], last_error="",
                    last_duration_ms=int((time.monotonic() - started) * 1000), increment={"runs": 1},
                )
                return result
            finally:
                try:
                    lock.release()
                except Exception:  # expired and possibly taken over: nothing of ours to release
                    pass

        return run

    return decorate
