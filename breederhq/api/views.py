"""Django-level error views: API paths answer problem+json even outside DRF views."""

import json

from django.http import HttpResponse
from django.views import defaults

from breederhq.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE


def problem_http_response(status: int, code: str, title: str, detail: str, **extra) -> HttpResponse:
    """problem+json from a plain Django view (no DRF content negotiation)."""
    body = {
        "type": f"{PROBLEM_TYPE_BASE}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return problem_http_response(404, "not_found", "Not found", f"No API resource at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return problem_http_response(
            500,
            "server_error",
            "Server error",
            "The server failed to handle this request; it has been logged. Retry later.",
        )
    return defaults.server_error(request)
