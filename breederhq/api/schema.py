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
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Field errors, e.g. {"lines[0].quantity": ["..."]}.',
    )
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

#: An Idempotency-Key: 1 to 255 printable characters once surrounding spaces (and the quotes of a
#: structured-field string) are removed (breederhq.idempotency.parse_idempotency_key). "Printable"
#: is Python's, which a JSON Schema pattern cannot state exactly: the bounds are what is stated.
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=False,
    description="Same key + same body replays the first response; another body -> 422; in flight -> 409.",
)


# Bearer JWTs in the schema: drf-spectacular knows simplejwt's class but not subclasses of it.
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme  # noqa: E402


class BreederHQJWTScheme(SimpleJWTScheme):
    target_class = "breederhq.api.authentication.BreederHQJWTAuthentication"
    name = "jwtAuth"


# The session cookie, as DRF's session authentication (a staff session counts only once it passed the
# second factor: breederhq.backoffice.api_auth).
from drf_spectacular.authentication import SessionScheme  # noqa: E402


class SecondFactorSessionScheme(SessionScheme):
    target_class = "breederhq.backoffice.api_auth.SecondFactorSessionAuthentication"


def _status_of(code) -> int | None:
    """The status of an `extend_schema(responses=...)` key: 200, "200", (400, "application/problem+json")."""
    code = code[0] if isinstance(code, tuple) else code
    try:
        return int(code)
    except (TypeError, ValueError):  # "2XX", "default"
        return None


#: Request strings: no NUL (PostgreSQL text refuses it; the API answers 400), and, where the field
#: trims whitespace and may not be blank, at least one character that is not whitespace.
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK_NO_NUL = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
#: For a field that may be blank: drf-spectacular states it as `oneOf` this or the empty string, so
#: this alternative must not match the empty string too.
NOT_EMPTY_NO_NUL = "^[^\\u0000]+$"

#: What Django's EmailValidator and URLValidator accept, in the common form (a generated client or a
#: property-based test then produces addresses the API takes).
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}$"
)
URL_PATTERN = (
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(/[A-Za-z0-9._~-]*)*$"
)
#: A query parameter's value may not be longer (breederhq.api.middleware).
MAX_QUERY_VALUE_CHARS = 1000

#: Added to every operation that lacks them: the answers any of them can give.
_ANY_OPERATION_ERRORS = {
    "400": "Invalid input: a field or query parameter (`errors` names it), including a query parameter with "
    "a NUL character or over 1000 characters",
}
_LIST_ERRORS = {"404": "Not found (a page past the end of the list)"}
_BODY_ERRORS = {"415": "The body is not JSON (multipart/form-data where the operation documents it)"}


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
            successes = {
                status: response
                for status, response in ((_status_of(code), response) for code, response in serializer.items())
                if status is not None and 200 <= status < 300
            }
            if successes:
                serializer = successes[min(successes)]
                if isinstance(serializer, OpenApiResponse):
                    serializer = serializer.response
                if serializer is None:  # e.g. {204: None, ...}: no body, no list
                    return False
        return super()._is_list_view(serializer)

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        extra = dict(_ANY_OPERATION_ERRORS)
        if self.method == "GET" and self._is_list_view() and self._get_paginator() is not None:
            extra.update(_LIST_ERRORS)
        if "requestBody" in operation:
            extra.update(_BODY_ERRORS)
        self._bound_query_parameters(operation)
        self._add_tenant_header(operation)
        responses = operation.setdefault("responses", {})
        problem_ref = None
        for code, description in extra.items():
            if code not in responses:
                problem_ref = problem_ref or self.resolve_serializer(ProblemSerializer, "response").ref
                responses[code] = {"content": {PROBLEM: {"schema": problem_ref}}, "description": description}
        return operation

    def _add_tenant_header(self, operation) -> None:
        """Tenant endpoints take the tenant to act in from X-Tenant-ID: a tenant id (anything else is
        a 400 naming the header, breederhq.tenancy.tenant_header_error)."""
        from breederhq.api.base import TenantAPIView
        from breederhq.tenancy import TENANT_HEADER_PATTERN

        if not isinstance(self.view, TenantAPIView):
            return
        parameters = operation.setdefault("parameters", [])
        if any(p.get("in") == "header" and p.get("name", "").lower() == "x-tenant-id" for p in parameters):
            return
        parameters.append(
            {
                "in": "header",
                "name": "X-Tenant-ID",
                "required": False,
                "schema": {"type": "string", "pattern": TENANT_HEADER_PATTERN, "maxLength": 19},
                "description": "The tenant to act in (one of yours); needed when you belong to several. "
                "A value that is not a tenant id is a 400; a tenant you are not a member of, a 403.",
            }
        )

    def _bound_query_parameters(self, operation) -> None:
        """Query strings as the API takes them: filters' own max_length, and for every string no NUL and
        at most MAX_QUERY_VALUE_CHARS characters (the middleware refuses more with a 400)."""
        filterset = getattr(self.view, "filterset_class", None)
        filters = filterset.base_filters if filterset is not None else {}
        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            schema = parameter.get("schema", {})
            if schema.get("type") != "string" or "enum" in schema or "format" in schema:
                continue
            max_length = getattr(filters.get(parameter["name"]), "extra", {}).get("max_length")
            schema.setdefault("maxLength", max_length or MAX_QUERY_VALUE_CHARS)
            schema.setdefault("pattern", NO_NUL)

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request":
            # Input serializers refuse unknown fields (tenant_app.api.serializers.StrictSerializer), and
            # a NUL anywhere in a JSON body is refused (breederhq.api.parsers).
            schema["additionalProperties"] = False
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.ListSerializer | serializers.ListField):
            # DRF refuses an empty list (allow_empty=False) and one over max_length.
            if not getattr(field, "allow_empty", True):
                schema.setdefault("minItems", 1)
            if getattr(field, "max_length", None) is not None:
                schema.setdefault("maxItems", field.max_length)
        return schema

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and isinstance(field, serializers.CharField) and not field.read_only:
            # What DRF's CharField enforces on input: not blank (after trimming), no NUL character.
            blank_refused = not field.allow_blank
            if blank_refused:
                meta.setdefault("minLength", 1)
            if isinstance(field, serializers.RegexField):
                # Its own pattern, not the generic one: a client must see the rule the field applies.
                regexes = [v.regex.pattern for v in field.validators if hasattr(v, "regex")]
                if regexes:
                    meta["pattern"] = regexes[0]
            elif isinstance(field, serializers.EmailField):
                meta.setdefault("pattern", EMAIL_PATTERN)
            elif isinstance(field, serializers.URLField):
                meta.setdefault("pattern", URL_PATTERN)
            else:
                if not blank_refused:
                    meta.setdefault("pattern", NOT_EMPTY_NO_NUL)
                else:
                    meta.setdefault("pattern", NOT_BLANK_NO_NUL if field.trim_whitespace else NO_NUL)
        return meta
