"""Thin periodic tasks: each calls one function and is safe to run twice (beat may overlap).

They run on the `maintenance` queue (CELERY_TASK_ROUTES) as `@scheduled_job`s: one run at a time,
outcome recorded in JobStatus.
"""

from breederhq.jobs.scheduled import scheduled_job

from marketplace_app import partitions, selectors, services


@scheduled_job("marketplace_app.tasks.ensure_message_partitions")
def ensure_message_partitions(months_ahead: int = 3) -> list[str]:
    return partitions.ensure_message_partitions(months_ahead=months_ahead)


@scheduled_job("marketplace_app.tasks.archive_old_messages")
def archive_old_messages(batch_size: int = 1000) -> int:
    return partitions.archive_messages(batch_size=batch_size)


@scheduled_job("marketplace_app.tasks.provider_stats_check")
def provider_stats_check() -> list[dict]:
    """Reports drift (the task result and a log line); repairing stays a human decision
    (`manage.py provider_stats_check --fix`), since drift means a write path has a bug."""
    import logging

    drift = selectors.provider_stats_drift()
    if drift:
        logging.getLogger(__name__).error("provider stats drift: %s", drift)
    return [{**row, "fields": {k: list(v) for k, v in row["fields"].items()}} for row in drift]


@scheduled_job("marketplace_app.tasks.expire_pending_confirmations")
def expire_pending_confirmations() -> int:
    return services.marketplace_invoice_expire_pending_confirmations()


@scheduled_job("marketplace_app.tasks.purge_deleted_providers")
def purge_deleted_providers() -> list[int]:
    from marketplace_app.lifecycle import provider_purge_deleted

    return provider_purge_deleted()
