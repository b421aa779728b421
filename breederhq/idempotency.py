"""Idempotency-Key handling on PostgreSQL (DESIGN section 8, IETF draft-ietf-httpapi-idempotency-key-header).

How a request with a key is processed, in the database the request writes to:

1. `INSERT ... ON CONFLICT DO NOTHING` claims (scope, method, path, key) and commits at once, so a
   concurrent duplicate sees the claim.
2. In the request's own transaction, `SELECT ... FOR UPDATE NOWAIT` on the claim:
   - lock not available  -> the first request is still running: 409;
   - another fingerprint -> the key was reused for a different request: 422;
   - completed           -> replay the stored response;
   - in flight, unlocked -> a new request, or one whose process died (its transaction rolled back,
     so it left no effect): run it now.
3. The response is stored in the same transaction as the effect. A 5xx rolls everything back and
   leaves the claim in flight, so the client's retry runs the request again.
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


def request_fingerprint(*, method: str, path: str, content_type: str, body: bytes) -> str:
    """Same request => same fingerprint. JSON bodies are canonicalised (key order, spacing);
    multipart bodies lose their boundary, which clients pick at random for every attempt."""
    canonical = body
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type in {"application/json", "application/merge-patch+json"} and body:
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, UnicodeDecodeError):
            canonical = body
    elif media_type == "multipart/form-data" and body:
        boundary = next((value.strip().strip('"') for name, _, value in
                         (param.strip().partition("=") for param in params.split(";"))
                         if name.strip().lower() == "boundary"), "")
        if boundary:
            canonical = body.replace(b"--" + boundary.encode("latin-1", "replace"), b"--boundary")
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", canonical):
        digest.update(part)
    return digest.hexdigest()


@dataclass
class Claim:
    """The outcome of step 2 for one request."""

    outcome: str  # "run" | "replay" | "in_flight" | "mismatch"
    record: IdempotencyKey | None = None


def claim_key(*, using: str, scope: str, method: str, path: str, key: str, fingerprint: str) -> None:
    """Step 1: make sure a claim row exists (its own short transaction)."""
    now = timezone.now()
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_keys (key, scope, method, path, request_fingerprint, status, "
                "response_content_type, response_body, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, 'in_flight', '', '', %s, %s) "
                "ON CONFLICT (scope, method, path, key) DO NOTHING",
                [key, scope, method, path[:500], fingerprint, now, now + KEY_LIFETIME],
            )


def lock_claim(*, using: str, scope: str, method: str, path: str, key: str, fingerprint: str) -> Claim:
    """Step 2; call inside `transaction.atomic(using=using)`."""
    try:
        record = (
            IdempotencyKey.objects.using(using)
            .select_for_update(nowait=True)
            .get(scope=scope, method=method, path=path[:500], key=key)
        )
    except OperationalError:
        return Claim("in_flight")
    except IdempotencyKey.DoesNotExist:
        # Expired and purged between the two steps: treat as in flight; the client retries.
        return Claim("in_flight")
    if record.request_fingerprint != fingerprint:
        return Claim("mismatch", record)
    if record.status == IdempotencyKey.Status.COMPLETED:
        return Claim("replay", record)
    return Claim("run", record)


def complete_claim(record: IdempotencyKey, *, using: str, status: int, content_type: str, body: str) -> None:
    """Step 3, in the request's transaction."""
    record.status = IdempotencyKey.Status.COMPLETED
    record.response_status = status
    record.response_content_type = content_type
    record.response_body = body
    record.completed_at = timezone.now()
    record.save(using=using, update_fields=[
        "status", "response_status", "response_content_type", "response_body", "completed_at",
    ])


def purge_expired_idempotency_keys(*, using: str) -> int:
    """Delete keys past their 24 h lifetime (beat). Returns how many went."""
    with transaction.atomic(using=using):
        deleted, _ = IdempotencyKey.objects.using(using).filter(expires_at__lt=timezone.now()).delete()
    return deleted
