"""How large a request body the API accepts, checked from `Content-Length` before anything reads it.

* multipart/form-data (file uploads: receipts): `RECEIPT_MAX_BYTES` plus room for the envelope;
* every other body (JSON, forms): Django's `DATA_UPLOAD_MAX_MEMORY_SIZE`.

Anything larger is `413 payload_too_large` (problem+json, the limit in `detail` and `max_bytes`),
with or without an Idempotency-Key: the idempotency layer reads the raw body through `read_body`,
under this same limit, instead of `HttpRequest.body` (which refuses anything over
DATA_UPLOAD_MAX_MEMORY_SIZE with a bare 400, and would refuse a legitimate 5 MB receipt).
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings

from breederhq.api.uploads import receipt_upload_max_body_bytes
from breederhq.errors import PayloadTooLarge


def _is_multipart(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


def max_body_bytes(content_type: str) -> int | None:
    if _is_multipart(content_type):
        return receipt_upload_max_body_bytes()
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def content_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def check_body_size(request) -> None:
    content_type = request.META.get("CONTENT_TYPE") or ""
    limit = max_body_bytes(content_type)
    length = content_length(request)
    if limit is not None and length > limit:
        what = (
            "a multipart upload (a receipt of at most RECEIPT_MAX_BYTES)" if _is_multipart(content_type) else "a body"
        )
        raise PayloadTooLarge(
            f"The request body is {length} bytes; {what} may be at most {limit} bytes.",
            max_bytes=limit,
        )


def read_body(request) -> bytes:
    """The raw body of a DRF request, read once and kept for the parsers (as `HttpRequest.body`
    does), but bounded by `check_body_size` (already called) rather than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    django_request = request._request
    if not hasattr(django_request, "_body"):
        if django_request._read_started:
            return django_request.body  # Django's own error: the stream was consumed elsewhere
        check_body_size(django_request)
        body = django_request.read()
        django_request._body = body
        django_request._stream = BytesIO(body)
    return django_request._body
