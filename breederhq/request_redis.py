"""The Redis client of the request path (throttle counters, the listing search cache).

One client (and connection pool) per process; redis-py re-opens the pool after a fork. Its timeouts
are short on purpose (REQUEST_REDIS_TIMEOUT_SECONDS, to connect and for each answer) and a command is
tried once: what uses it lets a request through without Redis (and logs it) rather than holding the
request while Redis is away. The one attempt is said explicitly because redis-py's own default for a
client built without a URL is ten retries with growing sleeps between them: seconds per command
against a Redis that is down, and the pause below would not shorten them (each retry fails at once,
then sleeps).

A Redis that accepts connections but never answers would still cost every request a timeout (two,
with the two write throttles). So once a command got no answer (or no connection), the process
leaves Redis alone for REQUEST_REDIS_PAUSE_SECONDS: connecting fails at once with a ConnectionError,
which every caller already treats as "Redis unreachable". The first command after the pause tries
again.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

_redis: redis.Redis | None = None
#: time.monotonic() until which this process does not try Redis (0: try).
_paused_until = 0.0


@contextmanager
def _pause_on_failure():
    global _paused_until
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if _paused_until == 0.0:
            logger.warning(
                "Redis did not answer (%s): the request path leaves it alone for %s s",
                exc,
                settings.REQUEST_REDIS_PAUSE_SECONDS,
            )
        _paused_until = time.monotonic() + settings.REQUEST_REDIS_PAUSE_SECONDS
        raise


class PausingConnection(redis.Connection):
    """A connection that is not attempted while the process has paused Redis, and that pauses it
    when connecting, sending or reading fails."""

    def connect_check_health(self, *args, **kwargs):
        global _paused_until
        if _paused_until:
            if time.monotonic() < _paused_until:
                raise redis.ConnectionError("Redis is paused for this process after it did not answer")
            _paused_until = 0.0
        with _pause_on_failure():
            return super().connect_check_health(*args, **kwargs)

    def send_packed_command(self, *args, **kwargs):
        with _pause_on_failure():
            return super().send_packed_command(*args, **kwargs)

    def read_response(self, *args, **kwargs):
        with _pause_on_failure():
            return super().read_response(*args, **kwargs)


def client() -> redis.Redis:
    global _redis
    if _redis is None:
        timeout = settings.REQUEST_REDIS_TIMEOUT_SECONDS
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
        if settings.REDIS_URL.startswith("redis://"):  # TLS and Unix sockets keep redis-py's own classes
            options["connection_class"] = PausingConnection
        _redis = redis.Redis.from_url(settings.REDIS_URL, **options)
    return _redis


def reset() -> None:
    """Forget the client and any pause (tests that point REDIS_URL or the timeout elsewhere)."""
    global _redis, _paused_until
    if _redis is not None:
        _redis.close()
    _redis, _paused_until = None, 0.0


def resume() -> None:
    """Try Redis again on the next command, whatever an earlier failure paused (tests)."""
    global _paused_until
    _paused_until = 0.0


def key_prefix() -> str:
    """The cache's KEY_PREFIX: several platforms (or test sessions) share one Redis safely."""
    return settings.CACHES["default"].get("KEY_PREFIX", "")
