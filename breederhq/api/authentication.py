"""The DRF authentication class for bearer JWTs (kept apart from the views: DRF imports it while
`rest_framework.views` itself is still loading)."""

from rest_framework_simplejwt.authentication import JWTAuthentication

from breederhq.api import identity_cache


class BreederHQJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication; `request.auth` is the validated token with our claims
    (breederhq.api.auth). The tenant context is set afterwards by the view (breederhq.api.base),
    which knows whether the endpoint is a tenant one.

    On reads the token's user comes from `identity_cache` (at most API_IDENTITY_CACHE_SECONDS old);
    writes read it live. DRF makes one instance per request, so `_reading` is this request's."""

    www_authenticate_realm = "api"
    _reading = False

    def authenticate(self, request):
        self._reading = request.method in identity_cache.SAFE_METHODS
        return super().authenticate(request)

    def get_user(self, validated_token):
        if not self._reading:
            return super().get_user(validated_token)
        from rest_framework_simplejwt.settings import api_settings

        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        # Invalid or unknown tokens are not cached: they raise (and are refused) every time.
        return identity_cache.cached(("user", str(user_id)), lambda: super(BreederHQJWTAuthentication, self)
                                     .get_user(validated_token))
