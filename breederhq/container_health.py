"""The web container's health check (docker-compose.yml):

    python -m breederhq.container_health http://127.0.0.1:8000/healthz

Healthy when the web server answers /healthz and its own dependencies (both databases, Redis) are
up. A missing Celery worker, which /healthz also reports, is the worker container's health, not the
web's. Standard library only: no Django set-up, so the check is cheap.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

NOT_THE_WEBS_HEALTH = {"celery_worker"}


def web_is_healthy(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503: something is down; which, the body says
        body = exc.read()
    except OSError as exc:
        return False, f"no answer from {url}: {exc}"
    try:
        down = set(json.loads(body)["down"]) - NOT_THE_WEBS_HEALTH
    except (ValueError, KeyError, TypeError):
        return False, f"{url} did not answer with a health report"
    return (not down), ("ok" if not down else f"down: {', '.join(sorted(down))}")


if __name__ == "__main__":
    healthy, detail = web_is_healthy(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/healthz")
    print(detail)
    sys.exit(0 if healthy else 1)
