"""Circuit breakers for outside services, shared by every process through Redis (pybreaker).

`shared_breaker(name, ...)` builds a pybreaker breaker whose state (closed / open / half-open, the
failure count, when it opened) lives in Redis under `<CELERY_KEY_PREFIX>breederhq:<name>-breaker`:
when one worker process opens it, every other process refuses calls too. Stripe
(payments_app/stripe_gateway.py) and the email provider (breederhq/email_breaker.py) use it.

Redis down or silent never stops the calls: every Redis read and write of the state falls back to
"closed, no failures" (pybreaker does so after start-up; `FailSafeRedisStorage` does it at start-up
too), so without Redis each call simply goes to the service.

`admission(breaker)` is asked *before* work that should not start while the breaker refuses (an
email is not claimed): it says whether a call may go ahead now, and when it is worth asking again.
Once the open period is over, only one caller at a time gets through (the **probe**, a Redis key
taken with SET NX, released by `end_probe`): without it, every worker waiting for the provider
would call at the same moment the breaker turns half-open.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pybreaker
import redis
from django.conf import settings

from breederhq.health import redis_client

logger = logging.getLogger(__name__)


class FailSafeRedisStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, except that a Redis that is down when the breaker is built is
    logged instead of raised (pybreaker seeds its keys in the constructor)."""

    def _initialize_redis_state(self, state: str) -> None:
        try:
            super()._initialize_redis_state(state)
        except redis.RedisError as exc:
            logger.warning("breaker %s: Redis unavailable, treated as closed (%s)", self._namespace_name, exc)


def breaker_namespace(name: str) -> str:
    return f"{settings.CELERY_KEY_PREFIX}breederhq:{name}-breaker"


def shared_breaker(name: str, *, fail_max: int, reset_timeout: float, is_outage) -> pybreaker.CircuitBreaker:
    """A breaker named `name` whose state every process shares. Only exceptions for which
    `is_outage(exc)` is true count as failures; any other exception passes through and counts as
    an answer from a working service."""
    storage = FailSafeRedisStorage(
        pybreaker.STATE_CLOSED,
        redis_client(),  # the workers' client: 2 s timeouts, one attempt per command
        namespace=breaker_namespace(name),
    )
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        exclude=[lambda exc: not is_outage(exc)],
        state_storage=storage,
        name=name,
    )


def _key(breaker: pybreaker.CircuitBreaker, part: str) -> str:
    return breaker._state_storage._namespace(part)


def breaker_status(breaker: pybreaker.CircuitBreaker) -> dict:
    """The shared state as stored, read in one round trip: `state` (closed, open, half-open, or
    unknown when Redis does not answer), `failures`, and for an open breaker `opened_at` and
    `retry_at` (when the next probe may go) as ISO timestamps."""
    client = breaker._state_storage._redis
    try:
        state, failures, opened_at = client.mget(
            [_key(breaker, "state"), _key(breaker, "fail_counter"), _key(breaker, "opened_at")]
        )
    except redis.RedisError as exc:
        return {"state": "unknown", "error": f"Redis unavailable: {exc}"[:300]}
    status = {"state": state.decode() if state else pybreaker.STATE_CLOSED, "failures": int(failures or 0)}
    if status["state"] == pybreaker.STATE_OPEN and opened_at:
        opened = int(opened_at)
        status["opened_at"] = datetime.fromtimestamp(opened, tz=UTC).isoformat()
        status["retry_at"] = datetime.fromtimestamp(opened + breaker.reset_timeout, tz=UTC).isoformat()
    return status


@dataclass(frozen=True)
class Admission:
    allowed: bool
    #: When refused: seconds until asking again is worth it (with jitter, so waiters spread out).
    wait_seconds: float = 0.0
    #: Allowed as the one probe of a breaker past its open period: call `end_probe` afterwards.
    probing: bool = False


def admission(breaker: pybreaker.CircuitBreaker, *, probe_seconds: float) -> Admission:
    """May a call go to the service now? Closed (or Redis unavailable): yes. Open and within its
    reset timeout: no, wait until it ends. Open past it, or half-open: yes for the one caller that
    takes the probe key (held at most `probe_seconds`, longer than the call can take), no for the
    others, who wait a fraction of the reset timeout."""
    status = breaker_status(breaker)
    state = status["state"]
    if state in (pybreaker.STATE_CLOSED, "unknown"):
        return Admission(True)
    reset = float(breaker.reset_timeout)
    if state == pybreaker.STATE_OPEN and "retry_at" in status:
        remaining = datetime.fromisoformat(status["retry_at"]).timestamp() - time.time()
        if remaining > 0:
            return Admission(False, remaining + random.uniform(0, reset / 2))
    try:
        taken = breaker._state_storage._redis.set(_key(breaker, "probe"), "1", nx=True, ex=max(1, int(probe_seconds)))
    except redis.RedisError:
        return Admission(True)
    if taken:
        return Admission(True, probing=True)
    return Admission(False, reset / 4 + random.uniform(0, reset / 4))


def end_probe(breaker: pybreaker.CircuitBreaker) -> None:
    try:
        breaker._state_storage._redis.delete(_key(breaker, "probe"))
    except redis.RedisError:
        pass  # it expires by itself


def reset_shared_state(breaker: pybreaker.CircuitBreaker) -> None:
    """Closed, no failures, no probe: for tests and for staff after fixing the cause by hand."""
    breaker.close()
    end_probe(breaker)
