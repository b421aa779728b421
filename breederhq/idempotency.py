"""Idempotency-Key handling on PostgreSQL (docs/security/data-layer.md, IETF draft-ietf-httpapi-idempotency-key-header).

How a request with a key is processed, in the database the request writes to:

1. `INSERT ... ON CONFLICT DO NOTHING` claims (scope, context, method, path, key) and commits at
   once, so a concurrent duplicate sees the claim. `scope` is the user, `context` where the request
   acted: `tenant:<id>` (the tenant the request resolved to), `marketplace:<marketplace user id>`, or
   `none`. The same key sent by the same user to another tenant is another key.
2. In the request's own transaction, `SELECT ... FOR UPDATE NOWAIT` on the claim:
   - lock not available  -> the first request is still running: 409;
   - another fingerprint -> the key was reused for a different request: 422;
   - completed           -> replay the stored response;
   - in flight, unlocked -> a new request, or one whose process died (its transaction rolled back,
     so it left no effect): run it now.
3. The response (status, body and the headers a client relies on: Content-Type, ETag, Location, ...)
   is stored in the same transaction as the effect. A 5xx rolls everything back and leaves the claim
   in flight, so the client's retry runs the request again.

Rows written before `context` existed have context '' and a fingerprint without the tenant header;
they are honoured as they were (for the rest of their 24 hours) so a retry across the upgrade never
runs twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import OperationalError, connections, transaction
from django.utils import timezone

from breederhq.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKeyInvalid(ValueError):
    pass


def parse_idempotency_key(header: str) -> str:
    """The draft sends the key as a structured-field string (`"abc"`); plain tokens are accepted too."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise IdempotencyKeyInvalid("The Idempotency-Key header is empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(f"The Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters.")
    if not key.isprintable():
        raise IdempotencyKeyInvalid("The Idempotency-Key header holds non-printable characters.")
    return key


#: `context` of the rows written before the column existed.
LEGACY_CONTEXT = ""

#: Response headers never stored for a replay: recomputed for every response, or never replayable.
NOT_REPLAYED_HEADERS = frozenset(
    {
        "content-length",
        "date",
        "vary",
        "allow",
        "set-cookie",
        "idempotent-replayed",
        "x-request-id",
        "server",
        "connection",
        "transfer-encoding",
        "keep-alive",
    }
)


def replayable_headers(response) -> dict[str, str]:
    """The headers of a first answer that its replay gives back (ETag, Location, Content-Type, ...)."""
    return {name: value for name, value in response.items() if name.lower() not in NOT_REPLAYED_HEADERS}


def request_fingerprint(
    *, method: str, path: str, content_type: str, body: bytes, tenant_header: str | None = None
) -> str:
    """Same request => same fingerprint. JSON bodies are canonicalised (key order, spacing);
    multipart bodies lose their boundary, which clients pick at random for every attempt.
    `tenant_header` (the X-Tenant-ID sent, '' when none) is part of the request; None computes the
    fingerprint of rows written before it was (no tenant part)."""
    canonical = body
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type in {"application/json", "application/merge-patch+json"} and body:
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, UnicodeDecodeError):
            canonical = body
    elif media_type == "multipart/form-data" and body:
        boundary = next(
            (
                value.strip().strip('"')
                for name, _, value in (param.strip().partition("=") for param in params.split(";"))
                if name.strip().lower() == "boundary"
            ),
            "",
        )
        if boundary:
            canonical = body.replace(b"--" + boundary.encode("latin-1", "replace"), b"--boundary")
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", canonical):
        digest.update(part)
    if tenant_header is not None:
        digest.update(b"\0x-tenant-id:" + tenant_header.strip().encode("utf-8", "replace"))
    return digest.hexdigest()


@dataclass
class Claim:
    """The outcome of step 2 for one request."""

    outcome: str  # "run" | "replay" | "in_flight" | "mismatch"
    record: IdempotencyKey | None = None


def claim_key(
    *,
    using: str,
    scope: str,
    context: str,
    method: str,
    path: str,
    key: str,
    fingerprint: str,
    legacy_fingerprint: str = "",
) -> None:
    """Step 1: make sure a claim row exists (its own short transaction). No conflict target: any
    unique constraint on the table (the current one, or an older one during an upgrade) makes it a
    no-op."""
    now = timezone.now()
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_keys (key, scope, context, method, path, request_fingerprint, status, "
                "response_content_type, response_body, response_headers, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'in_flight', '', '', '{}'::jsonb, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [key, scope, context, method, path[:500], fingerprint, now, now + KEY_LIFETIME],
            )


def lock_claim(
    *, using: str, scope: str, context: str, method: str, path: str, key: str, fingerprint: str, legacy_fingerprint=""
) -> Claim:
    """Step 2; call inside `transaction.atomic(using=using)`. A row written before keys had a
    context (same user, method, path and key) wins over the new claim, compared with the
    fingerprint of that time (`legacy_fingerprint`, a string or a function giving it; "" when the
    old row cannot be trusted for this request, which makes it a 422 mismatch)."""
    try:
        records = list(
            IdempotencyKey.objects.using(using)
            .select_for_update(nowait=True)
            .filter(scope=scope, method=method, path=path[:500], key=key, context__in=[context, LEGACY_CONTEXT])
        )
    except OperationalError:
        return Claim("in_flight")
    record = next((r for r in records if r.context == LEGACY_CONTEXT and context != LEGACY_CONTEXT), None)
    if record is not None and callable(legacy_fingerprint):
        legacy_fingerprint = legacy_fingerprint()  # worked out only when a legacy row is there
    expected = legacy_fingerprint if record is not None else fingerprint
    record = record or next((r for r in records if r.context == context), None)
    if record is None:
        # Expired and purged between the two steps: treat as in flight; the client retries.
        return Claim("in_flight")
    if record.request_fingerprint != expected:
        return Claim("mismatch", record)
    if record.status == IdempotencyKey.Status.COMPLETED:
        return Claim("replay", record)
    return Claim("run", record)


def complete_claim(
    record: IdempotencyKey,
    *,
    using: str,
    status: int,
    content_type: str,
    body: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Step 3, in the request's transaction."""
    record.status = IdempotencyKey.Status.COMPLETED
    record.response_status = status
    record.response_content_type = content_type
    record.response_body = body
    record.response_headers = dict(headers or {})
    record.completed_at = timezone.now()
    record.save(
        using=using,
        update_fields=[
            "status",
            "response_status",
            "response_content_type",
            "response_body",
            "response_headers",
            "completed_at",
        ],
    )


def purge_expired_idempotency_keys(*, using: str) -> int:
    """Delete keys past their 24 h lifetime (beat). Returns how many went."""
    with transaction.atomic(using=using):
        deleted, _ = IdempotencyKey.objects.using(using).filter(expires_at__lt=timezone.now()).delete()
    return deleted
