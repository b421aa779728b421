"""A tenant invoice's documents (breederhq/api/documents.py): its PDF and its credit notes', for the
tenant's members who may read invoices. Another tenant's invoice is not there: 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from breederhq.api.base import TenantAPIView
from breederhq.api.documents import (
    DOCUMENT_ERRORS,
    DOCUMENT_FILE,
    DocumentOut,
    file_response,
    invoice_document_response,
)
from breederhq.api.pagination import PageNumber
from breederhq.api.schema import READ_ERRORS
from breederhq.api.uploads import ReceiptDownloadNegotiation
from breederhq.errors import NotFound
from breederhq.invoicing.documents import invoice_ref
from tenant_app.models import Invoice, InvoiceDocument


def _invoice(request, invoice_id: int) -> Invoice:
    invoice = (
        Invoice.objects.filter(tenant_id=request.tenant_id, pk=invoice_id).only("id", "tenant_id", "sent_at").first()
    )
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return invoice


class InvoiceDocumentView(ReceiptDownloadNegotiation, TenantAPIView):
    """The invoice's PDF, rendered once when it was sent."""

    resource_type = "invoices"
    queryset = InvoiceDocument.objects.none()

    @extend_schema(
        operation_id="invoices_document_download",
        tags=["invoices"],
        responses={**DOCUMENT_FILE, **DOCUMENT_ERRORS},
        summary="Download the invoice's PDF",
    )
    def get(self, request, invoice_id: int):
        invoice = _invoice(request, invoice_id)
        return invoice_document_response(
            request, invoice_ref("tenant_invoice", invoice), issued=invoice.sent_at is not None
        )


class InvoiceDocumentListView(TenantAPIView):
    """The invoice's rendered documents: its own PDF and one per credit note, oldest first."""

    resource_type = "invoices"
    pagination_class = PageNumber
    serializer_class = DocumentOut
    queryset = InvoiceDocument.objects.none()

    @extend_schema(
        operation_id="invoices_documents_list",
        tags=["invoices"],
        responses={200: DocumentOut(many=True), **READ_ERRORS},
        summary="The invoice's documents (invoice and credit notes)",
    )
    def get(self, request, invoice_id: int):
        _invoice(request, invoice_id)
        rows = InvoiceDocument.objects.filter(tenant_id=request.tenant_id, invoice_id=invoice_id).order_by("id")
        page = self.paginate_queryset(rows)
        context = {"base": f"/api/v1/invoices/{invoice_id}/documents/"}
        return self.get_paginated_response(DocumentOut(page, many=True, context=context).data)


class InvoiceDocumentFileView(ReceiptDownloadNegotiation, TenantAPIView):
    """One of the invoice's documents (the invoice's or a credit note's PDF), by its id."""

    resource_type = "invoices"
    queryset = InvoiceDocument.objects.none()

    @extend_schema(
        operation_id="invoices_documents_download",
        tags=["invoices"],
        responses={**DOCUMENT_FILE, **READ_ERRORS},
        summary="Download one of the invoice's documents",
    )
    def get(self, request, invoice_id: int, document_id: int):
        row = InvoiceDocument.objects.filter(tenant_id=request.tenant_id, invoice_id=invoice_id, pk=document_id).first()
        if row is None:
            raise NotFound(f"Document {document_id} of invoice {invoice_id} not found.")
        return file_response(request, row)
