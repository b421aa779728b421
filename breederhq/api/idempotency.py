"""`IdempotentAPIView`: DRF views whose POST and PATCH honour `Idempotency-Key` (breederhq.idempotency)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from rest_framework.views import APIView

from breederhq.api.limits import check_body_size, read_body
from breederhq.api.problems import problem_response
from breederhq.databases import TENANT_DB
from breederhq.idempotency import (
    IdempotencyKeyInvalid,
    claim_key,
    complete_claim,
    lock_claim,
    parse_idempotency_key,
    replayable_headers,
    request_fingerprint,
)
from breederhq.tenancy import TENANT_HEADER

IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
DRAFT = "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/"


class ServerErrorRollback(Exception):
    """Raised inside the request transaction to undo a request that ended in a 5xx."""

    def __init__(self, response):
        self.response = response


def _scope(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"{user._meta.label_lower}:{user.pk}"
    return "anonymous"


def _legacy_fingerprint(request, **parts) -> str:
    """The fingerprint a key stored before keys had a context (context '') is compared with, or ""
    when that old row cannot be told apart from another tenant's: it was stored without the tenant,
    so for a user of several tenants it may be another tenant's answer. Then the key is refused
    (422 idempotency_key_reused: use a new key) rather than replayed across tenants or run twice.
    Only while such rows live (24 h after the upgrade)."""
    if getattr(request, "tenant_id", None) is not None:
        from breederhq.tenancy import user_memberships

        if len(user_memberships(request.user.pk)) != 1:
            return ""
    return request_fingerprint(**parts)


class IdempotentAPIView(APIView):
    #: The database the view writes to: the key and its stored response live there.
    idempotency_database = TENANT_DB

    def idempotency_context(self, request) -> str:
        """Where the request acts, part of the key's identity: the tenant it resolved to."""
        tenant_id = getattr(request, "tenant_id", None)
        return f"tenant:{tenant_id}" if tenant_id is not None else "none"

    def dispatch(self, request, *args, **kwargs):
        # DRF's dispatch, with the idempotency step between authentication/permissions and the handler.
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            check_body_size(request)  # 413 before anything reads the body
            handler = (
                getattr(self, request.method.lower(), None)
                if request.method.lower() in self.http_method_names
                else None
            )
            handler = handler or self.http_method_not_allowed
            header = request.headers.get("Idempotency-Key")
            if request.method in IDEMPOTENT_METHODS and header is not None:
                response = self._idempotent(handler, header, request, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _idempotent(self, handler, header, request, *args, **kwargs):
        try:
            key = parse_idempotency_key(header)
        except IdempotencyKeyInvalid as exc:
            return problem_response(
                status_code=400,
                code="idempotency_key_invalid",
                title="Invalid Idempotency-Key",
                detail=str(exc),
                see=DRAFT,
            )
        using = self.idempotency_database
        body = read_body(request)
        content_type = request.content_type or ""
        identity = {
            "scope": _scope(request),
            "context": self.idempotency_context(request),
            "method": request.method,
            "path": request.path,
            "key": key,
            "fingerprint": request_fingerprint(
                method=request.method,
                path=request.path,
                content_type=content_type,
                body=body,
                tenant_header=request.META.get(TENANT_HEADER, ""),
            ),
            "legacy_fingerprint": lambda: _legacy_fingerprint(
                request, method=request.method, path=request.path, content_type=content_type, body=body
            ),
        }
        claim_key(using=using, **identity)
        try:
            with transaction.atomic(using=using):
                claim = lock_claim(using=using, **identity)
                if claim.outcome == "in_flight":
                    return problem_response(
                        status_code=409,
                        code="idempotency_key_in_flight",
                        title="Request in progress",
                        detail="A request with this Idempotency-Key is still being processed; retry shortly.",
                        headers={"Retry-After": "1"},
                        see=DRAFT,
                    )
                if claim.outcome == "mismatch":
                    return problem_response(
                        status_code=422,
                        code="idempotency_key_reused",
                        title="Idempotency-Key reused",
                        detail="This Idempotency-Key was already used for a different request body; use a new key.",
                        see=DRAFT,
                    )
                if claim.outcome == "replay":
                    record = claim.record
                    replay = HttpResponse(
                        record.response_body, status=record.response_status, content_type=record.response_content_type
                    )
                    for name, value in (record.response_headers or {}).items():
                        replay[name] = value
                    replay["Idempotent-Replayed"] = "true"
                    return replay
                try:
                    response = handler(request, *args, **kwargs)
                except Exception as exc:
                    response = self.handle_exception(exc)
                response = self.finalize_response(request, response, *args, **kwargs)
                response.render()
                if response.status_code >= 500:
                    raise ServerErrorRollback(response)
                complete_claim(
                    claim.record,
                    using=using,
                    status=response.status_code,
                    content_type=response.get("Content-Type", "application/json"),
                    body=response.content.decode(),
                    headers=replayable_headers(response),
                )
                return response
        except ServerErrorRollback as rollback:
            return rollback.response
