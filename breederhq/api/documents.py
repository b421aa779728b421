"""Invoice documents over HTTP, for both invoice kinds: the PDF itself (attachment, ETag, 304 on a
matching If-None-Match) and the list of an invoice's documents. The views (tenant_app/api/documents.py,
marketplace_app/api/documents.py) first check who may see the invoice; anyone else gets the
invoice's own 404, so a document never tells that an invoice exists.

Not rendered yet: `409 document_not_ready` with Retry-After, and the render task is asked for again
(idempotent: it renders once). Never sent: `409 invoice_not_issued`.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from breederhq.api.problems import problem_response
from breederhq.api.schema import READ_ERRORS, problems
from breederhq.invoicing.documents import (
    PDF,
    DocumentDamaged,
    DocumentNotIssued,
    DocumentRef,
    document_bytes,
    document_find,
    download_name,
)

logger = logging.getLogger(__name__)

#: Seconds a client waits before asking again for a document being rendered.
RETRY_AFTER_SECONDS = 5

DOCUMENT_FILE = {
    (200, PDF): OpenApiResponse(
        response=OpenApiTypes.BINARY,
        description="The PDF (attachment). `ETag` is its SHA-256; send it back in If-None-Match for a 304.",
    ),
    304: OpenApiResponse(description="Not modified: the ETag sent in If-None-Match is the document's."),
}
DOCUMENT_ERRORS = {
    **READ_ERRORS,
    **problems(
        e409="`document_not_ready` (being rendered: retry after `Retry-After` seconds) or "
        "`invoice_not_issued` (a draft, or voided before it was sent: no document)",
        e503="`document_unavailable`: the stored file cannot be read now",
    ),
}


def _not_ready(ref: DocumentRef):
    from breederhq.jobs.publish_later import publish_later
    from breederhq.tasks import render_invoice_document

    publish_later(render_invoice_document, ref.as_dict())
    return problem_response(
        status_code=409,
        code="document_not_ready",
        title="The document is being rendered",
        detail="The invoice's PDF is not rendered yet; ask again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )


def _etag_matches(request, etag: str) -> bool:
    given = request.headers.get("If-None-Match", "")
    return given.strip() == "*" or etag in [part.strip().removeprefix("W/") for part in given.split(",")]


def file_response(request, row):
    """The stored PDF of `row` (already found and checked by the caller)."""
    etag = f'"{row.sha256}"'
    if _etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        try:
            content = document_bytes(row)
        except DocumentDamaged as exc:
            logger.error("invoice document unreadable: %s", exc)
            return problem_response(
                status_code=503,
                code="document_unavailable",
                title="Document unavailable",
                detail="The stored document cannot be read now; staff have been told.",
                headers={"Retry-After": "60"},
            )
        response = HttpResponse(content, content_type=PDF)
        response["Content-Disposition"] = f'attachment; filename="{download_name(row)}"'
        response["Content-Length"] = str(len(content))
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def invoice_document_response(request, ref: DocumentRef, *, issued: bool):
    """The invoice's own PDF: the file, or why not (never sent; not rendered yet)."""
    if not issued:
        raise DocumentNotIssued("This invoice was never sent: it has no document.")
    row = document_find(ref)
    if row is None:
        return _not_ready(ref)
    return file_response(request, row)


class DocumentOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["invoice", "credit_note"])
    number = serializers.CharField(help_text="The number printed on it (the invoice's or the credit note's).")
    version = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="SHA-256 of the PDF (also its download's ETag).")
    size = serializers.IntegerField(help_text="Bytes.")
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="Where to download it.")

    def get_url(self, row) -> str:
        return f"{self.context['base']}{row.pk}/"
