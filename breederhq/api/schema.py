"""Schema helpers: the problem+json error body, documented on every endpoint that can return it, and
the AutoSchema every view uses (`REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
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

#: A stored receipt, served as a download in the type its content has.
RECEIPT_FILE = {
    (200, kind): OpenApiResponse(response=OpenApiTypes.BINARY, description="The receipt file (attachment)")
    for kind in ("application/pdf", "image/png", "image/jpeg", "image/webp")
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


def _status_of(code) -> int | None:
    """The status of an `extend_schema(responses=...)` key: 200, "200", (400, "application/problem+json")."""
    code = code[0] if isinstance(code, tuple) else code
    try:
        return int(code)
    except (TypeError, ValueError):  # "2XX", "default"
        return None


class BreederHQAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, deciding "is this a list?" from the success response.

    drf-spectacular takes the smallest response key *as a string* as the main response, and
    `str((400, "application/problem+json"))` sorts before "200": a list view that documents its
    problem+json errors looked like a view returning one Problem, and lost its filter, ordering and
    page/cursor parameters. Here the lowest 2xx response decides, so every list endpoint documents its
    query parameters and the paginated envelope, and its errors stay problem+json.
    """

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            successes = {status: response for status, response in
                         ((_status_of(code), response) for code, response in serializer.items())
                         if status is not None and 200 <= status < 300}
            if successes:
                serializer = successes[min(successes)]
                if isinstance(serializer, OpenApiResponse):
                    serializer = serializer.response
                if serializer is None:  # e.g. {204: None, ...}: no body, no list
                    return False
        return super()._is_list_view(serializer)
