from celery import shared_task

from breederhq.jobs.scheduled import scheduled_job
from payments_app import services


@shared_task(name="payments_app.tasks.process_stripe_event", acks_late=True)
def process_stripe_event(event_pk: int) -> str | None:
    event = services.stripe_event_process(event_pk=event_pk)
    return event.status if event else None


@scheduled_job("payments_app.tasks.retry_due_stripe_events", lock_timeout=5 * 60)
def retry_due_stripe_events() -> int:
    """Beat: enqueue every event whose backoff has passed, or whose first enqueue was lost."""
    due = services.stripe_events_due()
    for event_pk in due:
        process_stripe_event.delay(event_pk)
    return len(due)
