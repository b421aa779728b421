"""The Redis client of the request path (throttle counters, the listing search cache).

One client (and connection pool) per process; redis-py re-opens the pool after a fork. Its timeouts
are short on purpose: what uses it lets a request through without Redis (and logs it) rather than
holding the request while Redis is away.
"""

from __future__ import annotations

import redis
from django.conf import settings

_redis: redis.Redis | None = None


def client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return _redis


def key_prefix() -> str:
    """The cache's KEY_PREFIX: several platforms (or test sessions) share one Redis safely."""
    return settings.CACHES["default"].get("KEY_PREFIX", "")
