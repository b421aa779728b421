"""A short per-process cache of who the caller is, for reads (GET, HEAD, OPTIONS) only.

Every authenticated API request used to re-read the `User` behind the token (simplejwt: is the
account still active?) and the caller's `MarketplaceUser` (is it erased? is it a provider?): two
queries on two databases before the view's own. Reads now take both from this cache for at most
`API_IDENTITY_CACHE_SECONDS` (default 5); writes always read them live.

The security property, kept and tested (tests/api/test_identity_cache.py): an erased marketplace user
loses read access within `API_IDENTITY_CACHE_SECONDS` in every process, and at once in the process
that made the change (post_save / post_delete clear its entries). A deactivated user, or a revoked
token, is refused sooner: breederhq.api.sessions checks `is_active` and the revocation stamp on every
request, kept here under the key kind "revocation" for at most `API_REVOCATION_CACHE_SECONDS` (1). Tenant
memberships are not cached: a removed membership still stops working at once.

Entries are copies (`copy.copy`), so a view that changes its `request.user` never changes the cache.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_ENTRIES = 10_000
_entries: dict[tuple, tuple[float, Any]] = {}
_lock = threading.Lock()
_MISSING = object()
#: The clock entries expire by; tests replace it (tests/waiting.py ManualClock) instead of sleeping.
clock = time.monotonic


def ttl_seconds() -> float:
    return float(getattr(settings, "API_IDENTITY_CACHE_SECONDS", 5))


def cached(key: tuple, load: Callable[[], Any], *, ttl: float | None = None) -> Any:
    """`load()`'s result for `key`, at most `ttl` (default `ttl_seconds()`) old; a copy of a cached
    model instance."""
    ttl = ttl_seconds() if ttl is None else ttl
    if ttl <= 0:
        return load()
    now = clock()
    hit = _entries.get(key, _MISSING)
    if hit is not _MISSING and hit[0] > now:
        return copy.copy(hit[1]) if hit[1] is not None else None
    value = load()
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (now + ttl, value)
    return copy.copy(value) if value is not None else None


def forget(kind: str, pk) -> None:
    """Drop the entries for one row; keys hold the id as a string (token claims may be either)."""
    with _lock:
        for key in [k for k in _entries if k[0] == kind and k[1] == str(pk)]:
            del _entries[key]


def clear() -> None:
    with _lock:
        _entries.clear()


def drop_on_change(model, attribute: str, *kinds: str, uid: str) -> None:
    """Any save or delete of a `model` row in this process drops the entries of these `kinds` keyed
    by the row's `attribute`: the entries it could have made stale."""
    from django.db import transaction
    from django.db.models.signals import post_delete, post_save

    def changed(sender, instance, using, **kwargs):
        pk = getattr(instance, attribute)

        def drop():
            for kind in kinds:
                forget(kind, pk)

        drop()
        # Again after commit: a read in between (another thread) may have cached the old row.
        transaction.on_commit(drop, using=using)

    for signal in (post_save, post_delete):
        signal.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-{signal}")


def connect_invalidation() -> None:
    """A user's save or delete drops its entries (called from the core app's ready()); the
    marketplace app connects its own rows' (marketplace_app/identity.py)."""
    from django.contrib.auth import get_user_model

    # A user's row also holds what breederhq.api.sessions checks on every request (active, stamp).
    drop_on_change(get_user_model(), "pk", "user", "revocation", uid="identity-user")
