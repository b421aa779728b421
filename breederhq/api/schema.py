"""Schema helpers: the problem+json error body, documented on every endpoint that can return it."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, with our stable `code` and per-field `errors`."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. validation_failed, version_conflict.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="Field errors, e.g. {\"lines[0].quantity\": [\"...\"]}.")
    current_version = serializers.IntegerField(required=False, help_text="On version_conflict: the version to send.")
    max_bytes = serializers.IntegerField(required=False, help_text="On 413: the largest body (or file) accepted.")


PROBLEM = "application/problem+json"


def problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ProblemSerializer, description=description)


def problems(**described: str) -> dict:
    """Error responses keyed (status, "application/problem+json"), as they are really served."""
    return {(int(code.lstrip("e")), PROBLEM): problem(text) for code, text in described.items()}


READ_ERRORS = problems(e401="Not signed in", e403="Not allowed (role, tenant, service provider)", e404="Not found")
WRITE_ERRORS = {
    **READ_ERRORS,
    **problems(
        e400="Invalid input (field errors in `errors`)",
        e409="Conflict: stale version (`current_version`), illegal transition, or Idempotency-Key in flight",
        e413="Request body (or uploaded file) over the limit in `max_bytes`",
        e422="Idempotency-Key reused with another body",
        e429="Throttled",
    ),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Same key + same body replays the first response; another body -> 422; in flight -> 409.",
)


# Bearer JWTs in the schema: drf-spectacular knows simplejwt's class but not subclasses of it.
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme  # noqa: E402


class BreederHQJWTScheme(SimpleJWTScheme):
    target_class = "breederhq.api.authentication.BreederHQJWTAuthentication"
    name = "jwtAuth"
