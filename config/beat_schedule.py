"""Every scheduled job, in one place (issue 8). README.md ("Scheduled jobs") explains each one.

Beat uses django-celery-beat's DatabaseScheduler: at start it writes these entries into the
PeriodicTask table, where support staff can see them in the admin and disable or re-enable one
(the enabled flag survives restarts; an interval changed by hand is reset to this file's at the
next beat start, so this file stays the source of truth).
"""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "send-due-emails": {
        "task": "breederhq.tasks.send_due_emails",
        "schedule": 60.0,
        "options": {"expire_seconds": 55},
    },
    "retry-due-stripe-events": {
        "task": "payments_app.tasks.retry_due_stripe_events",
        "schedule": 60.0,
        "options": {"expire_seconds": 55},
    },
    "purge-expired-idempotency-keys": {
        "task": "breederhq.tasks.purge_expired_idempotency_keys",
        "schedule": crontab(minute=17),
    },
}
