"""`GET /healthz`: each component checked on its own, so an outage names what is down."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from redis.backoff import NoBackoff
from redis.retry import Retry

from breederhq.databases import DATABASE_ALIASES


def heartbeat_key_prefix() -> str:
    # CELERY_KEY_PREFIX keeps platforms (and parallel test sessions) sharing one Redis apart.
    return f"{settings.CELERY_KEY_PREFIX}breederhq:worker-heartbeat:"


def redis_client() -> redis.Redis:
    # One attempt per command, said explicitly (breederhq/request_redis.py explains why).
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )


def record_worker_heartbeat(hostname: str) -> None:
    redis_client().set(f"{heartbeat_key_prefix()}{hostname}", int(time.time()), ex=settings.WORKER_HEARTBEAT_TTL)


def forget_worker_heartbeat(hostname: str) -> None:
    redis_client().delete(f"{heartbeat_key_prefix()}{hostname}")


def check_database(alias: str) -> dict:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the message says which
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    return {"status": "up"}


def health_redis_client() -> redis.Redis:
    """The health checks' own Redis client: HEALTH_CHECK_TIMEOUT_SECONDS to connect and to answer,
    and one attempt (no retry), so a Redis that accepts connections but never answers costs the
    check one timeout, not a request's worth of them."""
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def _redis_error(exc: Exception) -> str:
    if isinstance(exc, redis.TimeoutError):
        return (
            f"no answer within {settings.HEALTH_CHECK_TIMEOUT_SECONDS} s (HEALTH_CHECK_TIMEOUT_SECONDS): "
            f"{type(exc).__name__}: {exc}"
        )[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def check_redis(client: redis.Redis) -> dict:
    try:
        client.ping()
    except Exception as exc:
        return {"status": "down", "error": _redis_error(exc)}
    return {"status": "up"}


def check_celery_workers(client: redis.Redis | None = None, *, redis_up: bool = True) -> dict:
    if not redis_up:  # the heartbeats live in Redis; asking again would only wait on it again
        return {"status": "down", "error": "Redis unreachable, worker heartbeat unknown"}
    try:
        prefix = heartbeat_key_prefix()
        keys = list((client or redis_client()).scan_iter(match=f"{prefix}*", count=100))
    except Exception as exc:
        return {"status": "down", "error": f"Redis unreachable, worker heartbeat unknown: {_redis_error(exc)}"[:300]}
    if not keys:
        return {"status": "down", "error": f"no Celery worker heartbeat in the last {settings.WORKER_HEARTBEAT_TTL} s"}
    workers = sorted(k.decode()[len(prefix) :] for k in keys)
    return {"status": "up", "workers": workers}


def check_email_provider(redis_up: bool) -> dict:
    """The email provider's circuit breaker (breederhq/email_breaker.py). Open or half-open is
    `degraded`, never `down`: emails wait queued, and the web serves on."""
    if not redis_up:  # the breaker's state lives in Redis; asking again would only wait on it
        return {"status": "unknown", "breaker": "unknown"}
    from breederhq.email_breaker import email_provider_status

    breaker = email_provider_status()
    state = breaker.pop("state")
    return {
        "status": "up" if state == "closed" else "unknown" if state == "unknown" else "degraded",
        "breaker": state,
        **breaker,
    }


def platform_health() -> dict:
    """`down`: what the platform cannot run without (503). `degraded`: a dependency that is failing
    while the platform works around it (the email provider: emails wait), reported but 200."""
    components = {f"database:{alias}": check_database(alias) for alias in DATABASE_ALIASES}
    client = health_redis_client()
    try:
        components["redis"] = check_redis(client)
        redis_up = components["redis"]["status"] == "up"
        components["celery_worker"] = check_celery_workers(client, redis_up=redis_up)
    finally:
        client.close()
    components["email_provider"] = check_email_provider(redis_up)
    down = sorted(name for name, result in components.items() if result["status"] == "down")
    degraded = sorted(name for name, result in components.items() if result["status"] == "degraded")
    status = "down" if down else "degraded" if degraded else "up"
    return {"status": status, "down": down, "degraded": degraded, "components": components}


@require_GET
def healthz(request):
    report = platform_health()
    return JsonResponse(report, status=503 if report["down"] else 200)
