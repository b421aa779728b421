"""Invoice and credit-note documents (PDFs) for both invoice kinds: rendered once, by a worker,
stored immutably, attached to the invoice email and downloadable by whoever may see the invoice.

* **When.** `lifecycle.change` calls `documents_requested` in the change's transaction: sending an
  invoice asks for its document, a refund for its credit note's. The render task
  (`breederhq.tasks.render_invoice_document`) is published once that commits.
* **Once.** `document_ensure` takes a transaction-scoped advisory lock on the document's key in the
  invoice's database, looks for the row, and only then renders, stores the file and inserts the row,
  in that one transaction; a second run (a duplicate message, the email worker, a retry) waits for
  the lock and finds the row. The unique constraint (invoice, kind, source, version) is the
  database's own guard, and a file stored by a transaction that rolls back is deleted
  (breederhq/files.py). Rows are append-only: a document is never re-rendered over.
* **The email.** The invoice email names its document as an attachment (`email_attachments`); the
  email worker resolves it through `email_attachment` before it claims the email, rendering it
  there if the render task has not run yet, so an email never leaves without its PDF, and the email
  queue's own rules keep it from leaving twice.

Each kind plugs in a `DocumentSource` (tenant_app/documents.py, marketplace_app/documents.py),
named in `DOCUMENT_SOURCES` so this package imports no domain app.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from functools import cache

from django.core.files.base import ContentFile
from django.db import connections, transaction
from django.utils.module_loading import import_string

from breederhq.errors import Conflict
from breederhq.files import files_removed_on_failure
from breederhq.invoicing.models import DocumentKind
from breederhq.invoicing.pdf import DocumentData, render_document

#: invoice kind name (InvoiceKind.name) -> its DocumentSource
DOCUMENT_SOURCES = {
    "tenant_invoice": "tenant_app.documents.TENANT_DOCUMENTS",
    "marketplace_invoice": "marketplace_app.documents.MARKETPLACE_DOCUMENTS",
}
#: The `type` of an email attachment that is an invoice document (breederhq.email.ATTACHMENT_RESOLVERS).
ATTACHMENT_TYPE = "invoice_document"
PDF = "application/pdf"
#: Only version 1 is ever written today (see AbstractInvoiceDocument).
CURRENT_VERSION = 1


class DocumentNotIssued(Conflict):
    """The invoice was never sent (a draft, or voided before sending): it has no document."""

    code = "invoice_not_issued"
    title = "The invoice was never issued"


class DocumentDamaged(Exception):
    """The stored file is missing or its bytes no longer match the SHA-256 recorded with it."""


@dataclass(frozen=True)
class DocumentRef:
    """Which document: the invoice kind, the invoice's tenant (None for marketplace invoices), the
    invoice, the document kind and its source (the invoice, a credit note, a refund audit row)."""

    kind: str
    owner: int | None
    invoice_id: int
    document: str
    source_id: int

    def as_dict(self) -> dict:
        return {"type": ATTACHMENT_TYPE, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> DocumentRef:
        owner = data.get("owner")
        ref = cls(
            kind=str(data["kind"]),
            owner=None if owner is None else int(owner),
            invoice_id=int(data["invoice_id"]),
            document=str(data["document"]),
            source_id=int(data["source_id"]),
        )
        if ref.kind not in DOCUMENT_SOURCES or ref.document not in DocumentKind.values:
            raise ValueError(f"not a document reference: {data!r}")
        return ref

    @property
    def lock_key(self) -> str:
        return f"invoice_document:{self.kind}:{self.owner}:{self.invoice_id}:{self.document}:{self.source_id}"


class DocumentSource:
    """What one invoice kind says about its documents. Subclassed once per kind."""

    name: str
    using: str
    model = None

    def owner_of(self, invoice) -> int | None:
        return None

    def context(self, owner: int | None) -> AbstractContextManager:
        """The transaction (and row-level security context) the kind's rows are read and written in."""
        return transaction.atomic(using=self.using)

    def row_columns(self, ref: DocumentRef) -> dict:
        return {}

    def folder(self, ref: DocumentRef) -> str:
        raise NotImplementedError

    def credit_note_source_id(self, invoice, *, audit_entry, metadata: dict) -> int | None:
        """The source of the credit note a refund just issued (same transaction), or None."""
        return None

    def document_data(self, ref: DocumentRef) -> DocumentData:
        """What the document prints; NotFound / DocumentNotIssued when there is nothing to print."""
        raise NotImplementedError


@cache
def source_for(kind_name: str) -> DocumentSource:
    return import_string(DOCUMENT_SOURCES[kind_name])


def invoice_ref(kind_name: str, invoice) -> DocumentRef:
    source = source_for(kind_name)
    return DocumentRef(
        kind=kind_name,
        owner=source.owner_of(invoice),
        invoice_id=invoice.pk,
        document=DocumentKind.INVOICE,
        source_id=invoice.pk,
    )


def safe_name(text: str) -> str:
    """A number as a file name: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "document"


def download_name(row) -> str:
    return f"{'invoice' if row.kind == DocumentKind.INVOICE else 'credit-note'}-{safe_name(row.number)}.pdf"


# --- Asking for documents (inside the change's transaction) ------------------------------------------


def documents_requested(kind, invoice, *, action: str, audit_entry, metadata: dict) -> list[DocumentRef]:
    """The documents a change issues (the invoice on `sent`, the credit note on `refunded`), each
    rendered by the worker once the change commits."""
    from breederhq.jobs.publish_later import publish_after_commit
    from breederhq.tasks import render_invoice_document

    refs = []
    if action == "sent":
        refs.append(invoice_ref(kind.name, invoice))
    elif action == "refunded":
        source = source_for(kind.name)
        source_id = source.credit_note_source_id(invoice, audit_entry=audit_entry, metadata=metadata)
        if source_id is not None:
            refs.append(
                DocumentRef(
                    kind=kind.name,
                    owner=source.owner_of(invoice),
                    invoice_id=invoice.pk,
                    document=DocumentKind.CREDIT_NOTE,
                    source_id=source_id,
                )
            )
    for ref in refs:
        publish_after_commit(render_invoice_document, ref.as_dict(), using=kind.using)
    return refs


def email_attachments(kind, invoice, *, action: str) -> list[dict]:
    """The attachments of the email an action sends: the invoice's PDF with the invoice."""
    return [invoice_ref(kind.name, invoice).as_dict()] if action == "sent" else []


# --- Rendering and storing, once ---------------------------------------------------------------------


def _find(source: DocumentSource, ref: DocumentRef):
    return (
        source.model.objects.using(source.using)
        .filter(
            invoice_id=ref.invoice_id,
            kind=ref.document,
            source_id=ref.source_id,
            version=CURRENT_VERSION,
            **source.row_columns(ref),
        )
        .first()
    )


def document_find(ref: DocumentRef):
    """The stored document, or None (read in the kind's context)."""
    source = source_for(ref.kind)
    with source.context(ref.owner):
        return _find(source, ref)


def document_ensure(ref: DocumentRef):
    """(row, created): the document, rendered and stored now if it was not yet. For workers only
    (it renders). Safe to run any number of times, concurrently: one render, one file, one row."""
    source = source_for(ref.kind)
    with files_removed_on_failure() as stored, source.context(ref.owner):
        with connections[source.using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [ref.lock_key])
        existing = _find(source, ref)
        if existing is not None:
            return existing, False
        data = source.document_data(ref)
        content = render_document(data)
        digest = hashlib.sha256(content).hexdigest()
        row = source.model(
            **source.row_columns(ref),
            invoice_id=ref.invoice_id,
            kind=ref.document,
            source_id=ref.source_id,
            version=CURRENT_VERSION,
            number=data.number,
            sha256=digest,
            size=len(content),
        )
        name = f"{source.folder(ref)}/{ref.document}-{ref.source_id}-v{CURRENT_VERSION}-{digest[:16]}.pdf"
        stored.save(row.file, name, ContentFile(content))
        row.save(using=source.using, force_insert=True)
    return row, True


def document_bytes(row) -> bytes:
    """The stored file, checked against the SHA-256 recorded when it was rendered."""
    try:
        with row.file.storage.open(row.file.name, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise DocumentDamaged(f"{row}: the file {row.file.name} is not in storage") from None
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise DocumentDamaged(f"{row}: the stored file does not match its recorded SHA-256")
    return content


def email_attachment(data: dict) -> tuple[str, bytes, str]:
    """(file name, content, type) of an attachment reference (breederhq.email.ATTACHMENT_RESOLVERS).
    Runs in the email worker: renders the document if nobody has yet."""
    row, _ = document_ensure(DocumentRef.from_dict(data))
    return download_name(row), document_bytes(row), PDF
