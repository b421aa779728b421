"""How many uncached listing searches one client may run at once (LISTING_SEARCH_CONCURRENT_PER_CLIENT).

A search the cache cannot answer holds a database backend for up to its time limit. Without a bound,
a few clients repeating broad searches in parallel hold every backend and the rest of the site
waits. Each client (its IP, as the public read throttle identifies it: breederhq/api/throttling.py)
gets that many slots: a Redis sorted set of the searches it is running, by start time. Taking a slot
first drops the entries older than their lease (a process that died mid-search), then adds this
search only if fewer than the limit remain, in one Lua script (atomic against the client's other
requests on every web process). The slot is given back when the search ends (by the search cache,
in the same round trip that stores the answer: marketplace_app/search_cache.py); its lease (the
search's time limit plus a margin) bounds how long a lost one counts. One more search while all are taken is
refused with 429 `throttled` and a Retry-After of about one time limit (by then a slot is free).

Without Redis there is no limit (logged): the site stays available, as with the throttles.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from rest_framework.exceptions import Throttled

from breederhq import request_redis

logger = logging.getLogger(__name__)

#: How much longer than its time limit a slot is held at most (a process killed mid-search).
LEASE_MARGIN_MS = 5_000
#: The lease when the search has no time limit.
UNLIMITED_LEASE_MS = 30_000

_TAKE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""


def _slots_key(ident: str) -> str:
    return f"{request_redis.key_prefix()}:listing-search-slots:{ident}"


@dataclass(frozen=True)
class Slot:
    """One search slot taken in Redis: give it back when the search ends (`give_back`, or queued on
    a pipeline with the caller's other commands: `give_back_in`, one round trip for both)."""

    key: str
    token: str

    def give_back_in(self, pipe) -> None:
        pipe.zrem(self.key, self.token)

    def give_back(self) -> None:
        try:
            request_redis.client().zrem(self.key, self.token)
        except redis.RedisError as exc:  # the lease ends it
            logger.warning("listing search slot %s not given back, Redis unreachable: %s", self.key, exc)


def take_slot(ident: str, *, timeout_ms: int) -> Slot | None:
    """One of the client's search slots; all taken: `Throttled` (429). None when there is no limit
    (turned off, or Redis unreachable: logged)."""
    limit = settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT
    if limit <= 0:
        return None
    key, token = _slots_key(ident), secrets.token_hex(8)
    lease_ms = timeout_ms + LEASE_MARGIN_MS if timeout_ms > 0 else UNLIMITED_LEASE_MS
    try:
        taken = request_redis.client().eval(_TAKE, 1, key, int(time.time() * 1000), lease_ms, limit, token)
    except redis.RedisError as exc:
        logger.warning("listing search concurrency not limited, Redis unreachable: %s", exc)
        return None
    if not taken:
        wait = max(1, math.ceil(timeout_ms / 1000)) if timeout_ms > 0 else 1
        raise Throttled(
            wait=wait,
            detail=(
                f"You already have {limit} searches running. Wait for them to finish (at most {wait} s) and try "
                "again, or narrow the search."
            ),
        )
    return Slot(key, token)
