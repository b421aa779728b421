"""Per-request context (request id, user), latency metric and SQL timing, in one middleware."""

from __future__ import annotations

import re
import time
import uuid

from django.db import connections

from breederhq.observability import context
from breederhq.observability.metrics import DB_QUERY_SECONDS, HTTP_REQUEST_SECONDS, sql_table_and_operation

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,100}$")


class _QueryTimer:
    def __init__(self, alias: str):
        self.alias = alias

    def __call__(self, execute, sql, params, many, context_):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context_)
        finally:
            table, operation = sql_table_and_operation(sql)
            DB_QUERY_SECONDS.labels(self.alias, table, operation).observe(time.perf_counter() - started)


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        # Cleared by `clear_request_context` when the response is closed, not here: Django logs
        # 4xx/5xx responses after the middleware chain returns, and those lines need the id too.
        context.request_id.set(rid)
        started = time.perf_counter()
        wrappers = [connections[alias].execute_wrapper(_QueryTimer(alias)) for alias in connections]
        for wrapper in wrappers:
            wrapper.__enter__()
        try:
            response = self.get_response(request)
        finally:
            for wrapper in reversed(wrappers):
                wrapper.__exit__(None, None, None)
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            context.user_id.set(f"{user._meta.label_lower}:{user.pk}")
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        HTTP_REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        response["X-Request-ID"] = rid
        return response


def clear_request_context(**kwargs) -> None:
    """request_finished: nothing of this request may label the next one's log lines."""
    for var in (context.request_id, context.user_id, context.tenant_id):
        var.set("")
