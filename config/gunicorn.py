"""gunicorn's settings as deployed: the Dockerfile, docker-compose.yml and the bench (`bench/servers.py`)
all start gunicorn with `-c python:config.gunicorn`, so the bench measures what ships.

Sync workers, `WEB_CONCURRENCY` of them from gunicorn's own environment (3 when unset; compose
passes it through; gunicorn itself refuses an empty value). On a 2-core host the bench's worker
table (bench/reports/latest.md) has 5 (gunicorn's 2 x cores + 1) and gthread far behind on the
CPU-bound reads' p99, and 2 ahead of 3 on throughput in most runs. 3 rather than 2: a request that
waits on Stripe (a refund calls it in the request, up to STRIPE_TIMEOUT_SECONDS) then leaves two
workers answering, not one. Set WEB_CONCURRENCY=2 on a 2-core host for the throughput, or higher
on a bigger one. A sync worker waits on a connection until its request has arrived, so gunicorn
runs behind a reverse proxy that buffers requests (docs/operations/runbook.md#docker).
"""

import os

wsgi_app = "config.wsgi:application"


def child_exit(server, worker):
    """Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, shared with the Celery worker): drop a
    dead worker's live gauges; its counters stay in the directory and keep counting in /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
