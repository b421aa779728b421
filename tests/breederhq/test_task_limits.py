"""Every task has a soft and a hard time limit, and nothing a task does can outlive the broker's
visibility timeout (after which Redis hands an unacknowledged message to a second worker)."""

import pytest
from django.conf import settings


def our_tasks():
    from config.celery import app

    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def limits(task):
    from config.celery import app

    soft = task.soft_time_limit or app.conf.task_soft_time_limit
    hard = task.time_limit or app.conf.task_time_limit
    return soft, hard


def longest_self_scheduled_delay(task) -> float:
    """How far ahead the task may schedule its own next run: an explicit bound, or Celery's
    automatic retries (their backoff, or the fixed retry delay)."""
    delay = getattr(task, "reschedules_within", 0) or 0
    if getattr(task, "autoretry_for", ()):
        delay = max(delay, task.retry_backoff_max if task.retry_backoff else task.default_retry_delay)
    return delay


def test_the_registry_is_not_empty():
    assert {
        "breederhq.tasks.send_outbound_email",
        "tenant_app.tasks.expire_pending_confirmations",
        "payments_app.tasks.process_stripe_event",
    } <= set(our_tasks())


@pytest.mark.parametrize("name", sorted(our_tasks()))
def test_each_task_has_limits_that_fit_in_the_visibility_timeout(name):
    task = our_tasks()[name]
    soft, hard = limits(task)
    assert soft and hard, f"{name} has no time limit"
    assert soft < hard, f"{name}: the soft limit ({soft} s) must come before the hard one ({hard} s)"
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    outlives = hard + longest_self_scheduled_delay(task)
    assert outlives < visibility, (
        f"{name}: its hard limit plus the delay it may schedule itself ({outlives} s) reaches the "
        f"visibility timeout ({visibility} s): Redis would run it twice"
    )


@pytest.mark.parametrize("name", sorted(n for n, t in our_tasks().items() if hasattr(t, "lock_timeout")))
def test_each_jobs_lock_outlasts_its_hard_limit(name):
    task = our_tasks()[name]
    _, hard = limits(task)
    assert task.lock_timeout > hard, f"{name}: lock {task.lock_timeout} s, hard limit {hard} s"


def test_every_scheduled_task_is_a_scheduled_job():
    """Each beat entry names a job with a lock and a status row (breederhq/jobs/scheduled.py)."""
    from config.beat_schedule import BEAT_SCHEDULE

    tasks = our_tasks()
    plain = sorted(
        entry["task"] for entry in BEAT_SCHEDULE.values() if not hasattr(tasks[entry["task"]], "lock_timeout")
    )
    assert plain == []
