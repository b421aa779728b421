"""`@scheduled_job`: a Celery task for beat that runs once per scheduled slot and records how it went.

Two locks, both in Redis:

- The **slot lock**, keyed by job and slot, taken by the first run of a slot and never released
  (it expires well after the slot is over). Beat stamps every message it sends with the slot it
  belongs to (`breederhq.jobs.scheduler`): a job every 60 s has one slot per minute of the clock, a
  crontab one per minute it fires in. However many beats run (high availability, a deploy overlap),
  each slot runs once; the other messages of that slot are counted as skips.
- The **run lock**, per job, held while it runs: a run started by hand (`.delay()`, no slot) or a
  slot that begins while the previous one is still running is a recorded "skipped" instead of a
  second run at once. It expires after `lock_timeout`, which is longer than the job's hard time
  limit, so it is never lost while the job still runs, and a worker killed mid-job does not block
  the job for long.

Every job has a soft and a hard time limit (`soft_time_limit`, `time_limit`): a stuck job is
stopped before its lock expires and before the broker would hand the message to another worker.
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.health import redis_client
from breederhq.jobs.models import JobStatus

#: The header beat puts on a job's message: "<slot start, epoch seconds>/<slot length, seconds>".
SLOT_HEADER = "job_slot"
#: Default limits of a scheduled job (seconds); a job may name its own.
DEFAULT_SOFT_TIME_LIMIT = 10 * 60
DEFAULT_TIME_LIMIT = 11 * 60


def slot_for(schedule, *, now: datetime) -> str:
    """The slot a message that beat sends at `now` for `schedule` belongs to.

    Interval schedules: the interval's multiple of the clock (epoch aligned), so two beats whose
    timers are out of phase still agree. Crontabs: from the latest fire time at or before `now` to
    the next one (breederhq/jobs/cron_slots.py), so a run that makes up for a fire time missed while
    beat was down is that fire time's slot. Any other kind: the minute."""
    seconds = 60
    run_every = getattr(schedule, "run_every", None)
    if run_every is not None and not hasattr(schedule, "minute"):
        seconds = max(1, int(run_every.total_seconds()))
    elif hasattr(schedule, "minute") and hasattr(schedule, "day_of_week"):
        from breederhq.jobs.cron_slots import crontab_slot

        slot = crontab_slot(schedule, now=now, default_tz=_beat_timezone())
        if slot is not None:
            return f"{slot[0]}/{slot[1]}"
    epoch = int(now.timestamp())
    return f"{epoch - epoch % seconds}/{seconds}"


def _beat_timezone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(getattr(settings, "CELERY_TIMEZONE", None) or "UTC")


_current_slot: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_slot", default=None)


def current_slot() -> str | None:
    """The slot the running job was sent for (None when started by hand)."""
    return _current_slot.get()


def slot_of(request) -> str | None:
    slot = getattr(request, SLOT_HEADER, None)
    if slot is None:
        slot = (getattr(request, "headers", None) or {}).get(SLOT_HEADER)
    return slot


def slot_label(slot: str) -> str:
    start, length = slot.split("/")
    return f"{datetime.fromtimestamp(int(start), tz=UTC):%Y-%m-%dT%H:%M:%SZ}+{length}s"


def _slot_hold_seconds(slot: str) -> int:
    # Held well past the slot: a message of this slot that waited in the queue (a busy or restarting
    # worker) must still find it taken.
    length = int(slot.split("/")[1])
    return max(2 * length, settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))


def claim_slot(name: str, slot: str) -> bool:
    key = f"{settings.CELERY_KEY_PREFIX}breederhq:job-slot:{name}:{slot}"
    return bool(redis_client().set(key, str(time.time()), nx=True, ex=_slot_hold_seconds(slot)))


def _record(name: str, **fields) -> None:
    counters = {k: F(k) + v for k, v in fields.pop("increment", {}).items()}
    updated = JobStatus.objects.using(TENANT_DB).filter(name=name).update(**fields, **counters)
    if not updated:
        JobStatus.objects.using(TENANT_DB).get_or_create(name=name)
        JobStatus.objects.using(TENANT_DB).filter(name=name).update(**fields, **counters)


def scheduled_job(
    name: str,
    *,
    soft_time_limit: int = DEFAULT_SOFT_TIME_LIMIT,
    time_limit: int = DEFAULT_TIME_LIMIT,
    lock_timeout: int | None = None,
    **task_options,
):
    if not soft_time_limit < time_limit:
        raise ValueError(f"job {name}: the soft time limit must come before the hard one")
    lock_timeout = lock_timeout if lock_timeout is not None else time_limit + 60
    if lock_timeout <= time_limit:
        raise ValueError(f"job {name}: its lock ({lock_timeout} s) must outlast its hard time limit ({time_limit} s)")

    def decorate(function):
        @shared_task(
            name=name,
            bind=True,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            lock_timeout=lock_timeout,
            **task_options,
        )
        @functools.wraps(function)
        def run(self, *args, **kwargs):
            slot = slot_of(self.request)
            if slot is not None and not claim_slot(name, slot):
                _record(name, increment={"skips": 1})  # the slot's run is recorded by whoever ran it
                return {"skipped": f"slot {slot_label(slot)} already ran"}
            lock = redis_client().lock(
                f"{settings.CELERY_KEY_PREFIX}breederhq:job-lock:{name}", timeout=lock_timeout, blocking=False
            )
            if not lock.acquire():
                _record(name, last_outcome=JobStatus.Outcome.SKIPPED, increment={"skips": 1})
                return {"skipped": "already running"}
            started = time.monotonic()
            token = _current_slot.set(slot)
            _record(name, last_started_at=timezone.now(), last_outcome=JobStatus.Outcome.RUNNING)
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:  # SoftTimeLimitExceeded included
                _record(
                    name,
                    last_finished_at=timezone.now(),
                    last_outcome=JobStatus.Outcome.FAILED,
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    last_duration_ms=int((time.monotonic() - started) * 1000),
                    increment={"runs": 1, "failures": 1},
                )
                raise
            else:
                _record(
                    name,
                    last_finished_at=timezone.now(),
                    last_outcome=JobStatus.Outcome.SUCCEEDED,
                    last_result=json.dumps(result, default=str)[:2000],
                    last_error="",
                    last_duration_ms=int((time.monotonic() - started) * 1000),
                    increment={"runs": 1},
                )
                return result
            finally:
                _current_slot.reset(token)
                try:
                    lock.release()
                except Exception:  # expired and possibly taken over: nothing of ours to release
                    pass

        return run

    return decorate
