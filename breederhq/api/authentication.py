"""The DRF authentication class for bearer JWTs (kept apart from the views: DRF imports it while
`rest_framework.views` itself is still loading)."""

from rest_framework_simplejwt.authentication import JWTAuthentication


class BreederHQJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication; `request.auth` is the validated token with our claims
    (breederhq.api.auth). The tenant context is set afterwards by the view (breederhq.api.base),
    which knows whether the endpoint is a tenant one."""

    www_authenticate_realm = "api"
