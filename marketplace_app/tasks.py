"""Thin periodic tasks: each calls one function and is safe to run twice (beat may overlap).

They run on the `maintenance` queue (CELERY_TASK_ROUTES) as `@scheduled_job`s: one run at a time,
outcome recorded in JobStatus.
"""

from celery import shared_task

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


@shared_task(
    name="marketplace_app.tasks.make_listing_image_thumbnail",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def make_listing_image_thumbnail(image_id: int) -> str:
    """Queued after an image upload commits (marketplace_app/listing_images.py); safe to run twice."""
    from marketplace_app.listing_images import listing_image_make_thumbnail

    return listing_image_make_thumbnail(image_id=image_id)


@scheduled_job("marketplace_app.tasks.thumbnails_sweep")
def thumbnails_sweep() -> int:
    """Re-queue the thumbnails whose message was lost (uploaded a while ago, no thumbnail yet)."""
    from marketplace_app.listing_images import images_missing_thumbnails

    image_ids = images_missing_thumbnails()
    for image_id in image_ids:
        make_listing_image_thumbnail.delay(image_id)
    return len(image_ids)
