"""Throttles for sign-in (per client IP) and for writes (per user and per client IP).

Rates are read from settings on every request (not frozen at import as DRF's base class does), so
an operator's change and a test's override both apply. Counters live in the shared cache (Redis),
so every web process counts together: see `_SettingsRateThrottle`.
"""

from __future__ import annotations

import logging
import math

import redis
from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from breederhq import request_redis

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _SettingsRateThrottle(SimpleRateThrottle):
    """A sliding-window counter in Redis: O(1) per request, one round trip.

    DRF's `SimpleRateThrottle` keeps every request's timestamp in a cached list that it reads,
    trims and writes back whole on every request: two round trips and a pickle that grows with the
    rate (600 entries at 600/min). Here each client has a counter per fixed window (INCR), and the
    previous window's count is weighted by how much of it still overlaps the sliding window:
    `previous * (1 - elapsed/duration) + current`. Refused requests are counted too, so a client
    that keeps hammering stays refused. If Redis cannot be reached the request is let through (and
    logged): a throttle must not take the API down with it.
    """

    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()  # DRF's clock attribute (time.time), which a test can pin
        window = int(now // self.duration)
        prefix = f"{request_redis.key_prefix()}:{self.key}:"
        try:
            pipe = request_redis.client().pipeline(transaction=False)
            pipe.incr(f"{prefix}{window}")
            pipe.expire(f"{prefix}{window}", 2 * self.duration)
            pipe.get(f"{prefix}{window - 1}")
            current, _, previous = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("throttle %s not applied, Redis unreachable: %s", self.scope, exc)
            return True
        self.current, self.previous = int(current), int(previous or 0)
        self.elapsed = now - window * self.duration
        overlap = 1 - self.elapsed / self.duration
        return self.previous * overlap + self.current <= self.num_requests

    def wait(self):
        """Seconds until the sliding estimate is under the rate again (at least 1)."""
        if self.current > self.num_requests:
            # This window alone is over: wait for the next one, and for this one to slide out enough.
            return max(
                1, math.ceil(self.duration - self.elapsed + self.duration * (1 - self.num_requests / self.current))
            )
        # Wait until the previous window's share has shrunk enough: previous * (1 - t/d) + current <= limit.
        fraction = 1 - (self.num_requests - self.current) / self.previous if self.previous else 0
        return max(1, math.ceil(fraction * self.duration - self.elapsed))


class AuthIPThrottle(_SettingsRateThrottle):
    """Password guessing from one address: sign-in, refresh and revoke attempts per client IP."""

    scope = "auth_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteUserThrottle(_SettingsRateThrottle):
    """Writes (POST, PATCH, PUT, DELETE) per signed-in user; reads are not counted."""

    scope = "write_user"

    def get_cache_key(self, request, view):
        if request.method in SAFE_METHODS or not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class WriteIPThrottle(_SettingsRateThrottle):
    """Writes per client IP, whoever is signed in (many accounts from one address)."""

    scope = "write_ip"

    def get_cache_key(self, request, view):
        if request.method in SAFE_METHODS:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PublicReadIPThrottle(_SettingsRateThrottle):
    """Anonymous reads of the public marketplace (listing and provider search and profiles) per
    client IP: browsing is free, scraping the whole catalogue is not."""

    scope = "public_read_ip"

    def get_cache_key(self, request, view):
        if request.method not in SAFE_METHODS:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AccountEmailThrottle(_SettingsRateThrottle):
    """Emails sent on request (sign-up, verification resend, password reset) per target address: nobody
    floods an inbox, whatever address they send from. The address is hashed into the key; requests with
    no usable address are left to the per-IP throttle (they are refused as bad input anyway)."""

    scope = "account_email"

    def get_cache_key(self, request, view):
        import hashlib

        if request.method in SAFE_METHODS:
            return None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            address = user.email
        else:
            data = request.data if isinstance(getattr(request, "data", None), dict) else {}
            address = data.get("email")
        if not isinstance(address, str) or not address.strip():
            return None
        digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}
