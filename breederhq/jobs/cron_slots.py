"""The slot of a crontab job: from the fire time a message is for to the next fire time.

Beat stamps each message with its slot (breederhq/jobs/scheduled.py). For a crontab that is the
latest fire time at or before the moment beat sends, not the moment itself: a beat that was down
over a fire time sends the missed job once when it starts again (celery's crontab is due as soon
as a fire time has passed since the stored last run), and that message names the slot it makes up
for. Two beats starting after the outage, or a beat restarted before it had written the run to the
database, therefore send the same slot, and the slot lock lets it run once. The slot lasts until
the next fire time, so its lock is held long enough to stop a late duplicate of a daily job too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Enough steps for any real crontab (a day, an hour or a minute each step); past it, no answer.
MAX_STEPS = 20_000


def _day_matches(cron, t: datetime) -> bool:
    # celery numbers the days of the week from Sunday = 0
    return t.month in cron.month_of_year and t.day in cron.day_of_month and t.isoweekday() % 7 in cron.day_of_week


def previous_fire(cron, at: datetime) -> datetime | None:
    """The latest minute at or before `at` (in the crontab's time zone) at which `cron` fires."""
    t = at.replace(second=0, microsecond=0)
    for _ in range(MAX_STEPS):
        if not _day_matches(cron, t):
            t = t.replace(hour=23, minute=59) - timedelta(days=1)
        elif t.hour not in cron.hour:
            t = t.replace(minute=59) - timedelta(hours=1)
        elif t.minute not in cron.minute:
            t -= timedelta(minutes=1)
        else:
            return t
    return None


def next_fire(cron, after: datetime) -> datetime | None:
    """The first minute strictly after `after` at which `cron` fires."""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(MAX_STEPS):
        if not _day_matches(cron, t):
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
        elif t.hour not in cron.hour:
            t = t.replace(minute=0) + timedelta(hours=1)
        elif t.minute not in cron.minute:
            t += timedelta(minutes=1)
        else:
            return t
    return None


def crontab_slot(cron, *, now: datetime, default_tz) -> tuple[int, int] | None:
    """(start, length) in epoch seconds of the slot `now` falls in, or None when the crontab never
    fires (the caller falls back to the minute)."""
    local = now.astimezone(getattr(cron, "tz", None) or default_tz)
    start = previous_fire(cron, local)
    if start is None:
        return None
    end = next_fire(cron, start)
    length = int((end - start).total_seconds()) if end is not None else 60
    return int(start.timestamp()), max(60, length)
