"""How the OpenAPI schema describes the API's session authentication: the same cookie scheme as
DRF's session authentication (the second-factor check does not change what a client sends)."""

from drf_spectacular.authentication import SessionScheme


class SecondFactorSessionScheme(SessionScheme):
    target_class = "breederhq.backoffice.api_auth.SecondFactorSessionAuthentication"
