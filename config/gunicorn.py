"""gunicorn's settings as deployed: the Dockerfile, docker-compose.yml and the bench (`bench/run.py`)
all start gunicorn with `-c python:config.gunicorn`, so the bench measures what ships.

Sync workers, `WEB_CONCURRENCY` of them (3 when unset). On a 2-core host the bench's worker table
(bench/reports/latest.md) finds:
- 3 sync workers level with 2 on the CPU-bound reads and ahead on webhook ingestion, whose worker
  idles while PostgreSQL flushes the inbox insert's commit: the third worker fills that wait;
- 5 (gunicorn's 2 x cores + 1) and gthread slower on the CPU-bound reads.
The third worker also keeps the site answering while two requests wait on Stripe (a refund calls it
in the request, up to STRIPE_TIMEOUT_SECONDS). Set WEB_CONCURRENCY for a bigger host.
"""

import os

wsgi_app = "config.wsgi:application"
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
