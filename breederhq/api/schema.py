"""Schema helpers: the problem+json error body, documented on every endpoint that can return it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
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


def problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ProblemSerializer, description=description)


READ_ERRORS = {401: problem("Not signed in"), 403: problem("Not allowed"), 404: problem("Not found")}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: problem("Invalid input (field errors in `errors`)"),
    409: problem("Conflict: stale version, illegal transition, or Idempotency-Key in flight"),
    422: problem("Idempotency-Key reused with another body"),
    429: problem("Throttled"),
}
