"""Throttles for sign-in (per client IP) and for writes (per user and per client IP).

Rates are read from settings on every request (not frozen at import as DRF's base class does), so
an operator's change and a test's override both apply. Counters live in the shared cache (Redis),
so every web process counts together.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


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
