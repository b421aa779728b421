from celery import shared_task


@shared_task(name="breederhq.tasks.ping")
def ping() -> str:
    """A round trip through the broker and a worker, for health checks and tests."""
    return "pong"
