from celery import shared_task

from breederhq.jobs.scheduled import scheduled_job


@shared_task(name="breederhq.tasks.ping")
def ping() -> str:
    """A round trip through the broker and a worker, for health checks and tests."""
    return "pong"


@scheduled_job("breederhq.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> dict[str, int]:
    """Beat: drop Idempotency-Keys older than 24 h, in each database."""
    from breederhq.idempotency import purge_expired_idempotency_keys as purge
    from config.database_routing import DATABASE_ALIASES

    return {alias: purge(using=alias) for alias in DATABASE_ALIASES}


@shared_task(name="breederhq.tasks.send_outbound_email", acks_late=True)
def send_outbound_email(using: str, pk: int) -> str | None:
    from breederhq.email import email_send

    email = email_send(using=using, pk=pk)
    if email is not None and email.status == email.Status.QUEUED and email.next_attempt_at:
        # Failed this time: try again after the backoff (the sweep would too, if this is lost).
        send_outbound_email.apply_async((using, pk), eta=email.next_attempt_at)
    return email.status if email else None


@scheduled_job("breederhq.tasks.send_due_emails", lock_timeout=5 * 60)
def send_due_emails() -> dict[str, int]:
    """Beat: enqueue queued emails whose first enqueue was lost (Redis down) or whose retry is due."""
    from breederhq.email import emails_due
    from config.database_routing import DATABASE_ALIASES

    counts = {}
    for alias in DATABASE_ALIASES:
        due = emails_due(using=alias)
        for pk in due:
            send_outbound_email.delay(alias, pk)
        counts[alias] = len(due)
    return counts
