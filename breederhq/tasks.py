from celery import shared_task


@shared_task(name="breederhq.tasks.ping")
def ping() -> str:
    """A round trip through the broker and a worker, for health checks and tests."""
    return "pong"


@shared_task(name="breederhq.tasks.purge_expired_idempotency_keys")
def purge_expired_idempotency_keys() -> dict[str, int]:
    """Beat: drop Idempotency-Keys older than 24 h, in each database."""
    from breederhq.idempotency import purge_expired_idempotency_keys as purge
    from config.database_routing import DATABASE_ALIASES

    return {alias: purge(using=alias) for alias in DATABASE_ALIASES}
