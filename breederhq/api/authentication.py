"""The DRF authentication class for bearer JWTs (kept apart from the views: DRF imports it while
`rest_framework.views` itself is still loading)."""

import threading
import time

from rest_framework_simplejwt.authentication import JWTAuthentication

from breederhq.api import identity_cache

#: Tokens this process has verified, by their encoded form: (expiry as a Unix time, the token).
#: A token's signature and claims never change, so a second check of the same bytes can only differ
#: in whether it has expired, which `get_validated_token` still checks on every use. Bounded:
#: emptied when full (a client signs in again at worst, it is never refused).
_VERIFIED_MAX = 10_000
_verified: dict[bytes, tuple[float, object]] = {}
_verified_lock = threading.Lock()


class BreederHQJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication; `request.auth` is the validated token with our claims
    (breederhq.api.auth). The tenant context is set afterwards by the view (breederhq.api.base),
    which knows whether the endpoint is a tenant one.

    Every request first checks that the token was not revoked and its user is active
    (breederhq.api.sessions.session_check). On reads the token's user then comes from `identity_cache`
    (at most API_IDENTITY_CACHE_SECONDS old); writes read it live. DRF makes one instance per
    request, so `_reading` is this request's."""

    www_authenticate_realm = "api"
    _reading = False

    def authenticate(self, request):
        self._reading = request.method in identity_cache.SAFE_METHODS
        return super().authenticate(request)

    def get_validated_token(self, raw_token):
        """simplejwt's check (signature, token type, expiry), once per token per process; each
        later use only checks the expiry again. Refused tokens are never remembered."""
        hit = _verified.get(raw_token)
        if hit is not None and hit[0] > time.time():
            return hit[1]
        token = super().get_validated_token(raw_token)
        expires = token.payload.get("exp")
        if isinstance(expires, int | float):
            with _verified_lock:
                if len(_verified) >= _VERIFIED_MAX:
                    _verified.clear()
                _verified[raw_token] = (float(expires), token)
        return token

    def get_user(self, validated_token):
        """The token's user, after `sessions.session_check` (active, revocation stamp, family): on
        reads from a per-process answer at most API_REVOCATION_CACHE_SECONDS old, on writes live."""
        from breederhq.api.sessions import session_check

        session_check(validated_token, cached=self._reading)
        if not self._reading:
            return super().get_user(validated_token)
        from rest_framework_simplejwt.settings import api_settings

        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        # Invalid or unknown tokens are not cached: they raise (and are refused) every time.
        return identity_cache.cached(
            ("user", str(user_id)), lambda: super(BreederHQJWTAuthentication, self).get_user(validated_token)
        )
