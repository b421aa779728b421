"""Uploaded files in the API: what a payment receipt may be, checked by content and size, and how
a stored receipt is handed back.

Used by every receipt upload (tenant invoices, a buyer's receipt for a breeder's invoice,
marketplace invoices). The client's Content-Type and file name are not trusted: the first bytes
decide. A file over the limit is `413 receipt_too_large` with the limit (`max_bytes`).

Stored receipts are never on a public URL (MEDIA_URL is not served): they are read only through
the `GET .../receipt/` endpoints, after the same checks as the invoice itself (`receipt_download`).
"""

from __future__ import annotations

import posixpath

from django.conf import settings
from django.http import FileResponse
from rest_framework.parsers import FormParser, MultiPartParser

from breederhq.api.parsers import JSONParser
from breederhq.errors import NotFound, PayloadTooLarge, ValidationFailed

#: What a receipt may be, recognised by its first bytes (the client's Content-Type is not trusted).
RECEIPT_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
#: Room for the multipart envelope (boundaries, part headers, the small text fields) around a receipt.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def receipt_kind(upload) -> str | None:
    head = upload.read(16)
    upload.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in RECEIPT_SIGNATURES.items() if head.startswith(magic)), None)


def check_receipt(upload) -> None:
    limit = settings.RECEIPT_MAX_BYTES
    if upload.size > limit:
        raise PayloadTooLarge(
            f"The receipt is {upload.size} bytes; the limit is {limit} bytes.",
            max_bytes=limit,
            code="receipt_too_large",
        )
    if upload.size == 0 or receipt_kind(upload) is None:
        raise ValidationFailed(
            "A receipt must be a PDF, PNG, JPEG or WebP file.",
            field_errors={"receipt": ["not a PDF, PNG, JPEG or WebP file"]},
            code="receipt_type_refused",
        )


def receipt_upload_max_body_bytes() -> int:
    """The largest request body a receipt upload view accepts: the receipt limit plus the envelope."""
    return settings.RECEIPT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES


def receipt_download(field_file, *, filename: str, inline: bool = False) -> FileResponse:
    """The stored receipt as an attachment, its type from its first bytes. The caller has checked who
    may see it. No file (none uploaded, or a receipt given as a URL) -> 404 `receipt_missing`.
    `inline` (the back office's preview): shown in the browser when it is a PDF or an image."""
    if not field_file:
        raise NotFound("No receipt file was uploaded for this invoice.", code="receipt_missing")
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except FileNotFoundError:
        raise NotFound("The receipt file is no longer in storage.", code="receipt_missing") from None
    kind = receipt_kind(handle) or "application/octet-stream"
    extension = posixpath.splitext(field_file.name)[1].lower()
    as_attachment = not (inline and kind in set(RECEIPT_SIGNATURES.values()) | {"image/webp"})
    response = FileResponse(handle, content_type=kind, as_attachment=as_attachment, filename=f"{filename}{extension}")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


#: The receipt uploads take multipart (the file) besides JSON; every other endpoint reads JSON only.
RECEIPT_UPLOAD_PARSERS = [JSONParser, MultiPartParser, FormParser]


class ReceiptDownloadNegotiation:
    """A receipt GET answers with the file whatever the client's Accept says (its errors stay
    problem+json): only JSON renderers are configured, so strict negotiation would refuse
    `Accept: application/pdf`."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=force or request.method == "GET")
