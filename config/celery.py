"""The Celery application: Redis broker, settings from Django's (CELERY_* names)."""

import os

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("breederhq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_shutdown.connect
def forget_dead_process_gauges(pid=None, **kwargs):
    """Prometheus multiprocess mode: a pool process that exits drops its live gauges (counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@signals.setup_logging.connect
def use_django_logging(**kwargs):
    """Workers and beat log like the web: Django's LOGGING (JSON lines with the task id and name,
    secrets scrubbed, unless LOG_FORMAT=plain) instead of Celery's own root-logger set-up."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes a short-lived key to Redis while the worker runs, so /healthz can tell a live worker
    from a dead one without a broadcast round trip."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        self.tref = None

    def start(self, worker):
        from breederhq.health import record_worker_heartbeat

        record_worker_heartbeat(worker.hostname)
        from django.conf import settings

        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_INTERVAL, record_worker_heartbeat, (worker.hostname,), priority=10
        )

    def stop(self, worker):
        from breederhq.health import forget_worker_heartbeat

        if self.tref is not None:
            self.tref.cancel()
        forget_worker_heartbeat(worker.hostname)


app.steps["worker"].add(WorkerHeartbeat)
