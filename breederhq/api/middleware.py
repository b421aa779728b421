"""Every answer under /api/ that is an error is problem+json, whatever DEBUG says, and no query
string reaches a view with a NUL character or an absurdly long parameter.

* Query parameters: a name or value with a NUL character (PostgreSQL text refuses it), a name over
  MAX_QUERY_NAME_CHARS or a value over MAX_QUERY_VALUE_CHARS characters is a 400 `validation_failed`
  naming the parameter, before any view (or filter, or search) sees it.
* Errors made outside DRF's exception handler (Django's own 404 for a URL that resolves to nothing,
  405 from `require_POST`, 500 pages, and with DEBUG on Django's HTML debug pages) are replaced by
  problem+json with the same status. Error answers that are JSON already are left as they are.
"""

from __future__ import annotations

from breederhq.api.views import problem_http_response

API_PREFIX = "/api/"
MAX_QUERY_NAME_CHARS = 100
MAX_QUERY_VALUE_CHARS = 1000

#: (code, title) of a problem made from a bare Django error answer, by status.
_BY_STATUS = {
    400: ("malformed_request", "Malformed request"),
    401: ("not_authenticated", "Authentication required"),
    403: ("permission_denied", "Permission denied"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("throttled", "Too many requests"),
    500: ("server_error", "Server error"),
}


def query_problem(query) -> tuple[str, str] | None:
    """(parameter, problem) for the first unacceptable query parameter, or None."""
    for name, values in query.lists():
        shown = name.replace("\x00", "\\u0000")[:MAX_QUERY_NAME_CHARS]
        if "\x00" in name:
            return shown, "the parameter name contains a NUL character"
        if len(name) > MAX_QUERY_NAME_CHARS:
            return shown, f"the parameter name is over {MAX_QUERY_NAME_CHARS} characters"
        for value in values:
            if "\x00" in value:
                return name, "contains a NUL character"
            if len(value) > MAX_QUERY_VALUE_CHARS:
                return name, f"is over {MAX_QUERY_VALUE_CHARS} characters"
    return None


def _detail(request, status: int) -> str:
    if status == 404:
        return f"No API resource at {request.path}."
    if status == 405:
        return f"Method {request.method} is not allowed here."
    if status >= 500:
        return "The server failed to handle this request; it has been logged. Retry later."
    return "The request was refused."


def _is_json(response) -> bool:
    content_type = (response.get("Content-Type") or "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class APIProblemMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        refused = query_problem(request.GET)
        if refused is not None:
            name, problem = refused
            return problem_http_response(
                400, "validation_failed", "Invalid input", f"{name}: {problem}.", errors={name: [problem]}
            )
        response = self.get_response(request)
        if response.status_code < 400 or getattr(response, "streaming", False) or _is_json(response):
            return response
        code, title = _BY_STATUS.get(response.status_code, ("error", "Error"))
        problem = problem_http_response(response.status_code, code, title, _detail(request, response.status_code))
        for header, value in response.items():  # Allow, WWW-Authenticate, Retry-After, security headers...
            if header.lower() not in ("content-type", "content-length"):
                problem[header] = value
        return problem
