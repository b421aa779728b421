"""Every scheduled job, in one place. docs/architecture/jobs-email-celery.md#scheduled-jobs explains each one.

These are defaults: beat's scheduler (breederhq.jobs.scheduler) writes a job into the PeriodicTask
table when it is missing there; after that the admin owns its schedule and enabled flag.
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
    "outbox-relay-due": {
        "task": "breederhq.tasks.outbox_relay_due",
        "schedule": 60.0,
        "options": {"expire_seconds": 55},
    },
    "crossdb-check": {  # the rows changed since the last run (breederhq/crossdb_check/)
        "task": "breederhq.tasks.crossdb_check",
        "schedule": crontab(minute="*/15"),
    },
    "crossdb-check-full": {  # every row, nightly; resumes the next night if its budget runs out
        "task": "breederhq.tasks.crossdb_check",
        "schedule": crontab(hour=3, minute=5),
        "kwargs": {"mode": "full"},
    },
    "outbox-purge": {
        "task": "breederhq.tasks.outbox_purge",
        "schedule": crontab(hour=2, minute=30),
    },
    "message-partitions-ahead": {
        "task": "marketplace_app.tasks.ensure_message_partitions",
        "schedule": crontab(hour=3, minute=0),
        "kwargs": {"months_ahead": 3},
    },
    "archive-old-messages": {
        "task": "marketplace_app.tasks.archive_old_messages",
        "schedule": crontab(hour=4, minute=0),
    },
    "listing-thumbnails-sweep": {
        "task": "marketplace_app.tasks.thumbnails_sweep",
        "schedule": crontab(minute="*/10"),
    },
    "purge-account-tokens": {
        "task": "tenant_app.tasks.purge_account_tokens",
        "schedule": crontab(hour=2, minute=45),
    },
    "provider-stats-check": {
        "task": "marketplace_app.tasks.provider_stats_check",
        "schedule": crontab(hour=5, minute=0),
    },
    "expire-marketplace-pending-confirmations": {
        "task": "marketplace_app.tasks.expire_pending_confirmations",
        "schedule": crontab(minute=7),
    },
    "expire-tenant-pending-confirmations": {
        "task": "tenant_app.tasks.expire_pending_confirmations",
        "schedule": crontab(minute=37),
    },
    "purge-deleted-contacts": {
        "task": "tenant_app.tasks.purge_deleted_contacts",
        "schedule": crontab(hour=1, minute=15, day_of_week=0),
    },
    "purge-deleted-providers": {
        "task": "marketplace_app.tasks.purge_deleted_providers",
        "schedule": crontab(hour=1, minute=45, day_of_week=0),
    },
    "reconcile-stripe": {
        "task": "payments_app.tasks.reconcile_stripe",
        "schedule": crontab(hour=3, minute=30),
    },
    "open-unopened-invoice-payments": {
        "task": "payments_app.tasks.open_unopened_invoice_payments",
        "schedule": 300.0,
        "options": {"expire_seconds": 290},
    },
    "flush-expired-tokens": {
        "task": "breederhq.tasks.flush_expired_tokens",
        "schedule": crontab(hour=2, minute=0),
    },
    "purge-expired-idempotency-keys": {
        "task": "breederhq.tasks.purge_expired_idempotency_keys",
        "schedule": crontab(minute=17),
    },
}
