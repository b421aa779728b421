"""Marketplace invoice documents (breederhq/api/documents.py), for the invoice's buyer and its
provider (anyone else: the invoice's own 404), and the breeder's invoice PDF for the buyer of a
breeder's sale (through the purchase, as its receipt)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.documents import (
    DOCUMENT_ERRORS,
    DOCUMENT_FILE,
    DocumentOut,
    file_response,
    invoice_document_response,
)
from breederhq.api.pagination import PageNumber
from breederhq.api.schema import READ_ERRORS, problems
from breederhq.api.uploads import ReceiptDownloadNegotiation
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound
from breederhq.invoicing.documents import invoice_ref
from marketplace_app import selectors
from marketplace_app.api.views.transactions import TransactionReceiptView
from marketplace_app.models import MarketplaceInvoiceDocument

DB = MARKETPLACE_DB


class MarketplaceInvoiceDocumentView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """The invoice's PDF, rendered once when it was sent."""

    queryset = MarketplaceInvoiceDocument.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_document_download",
        tags=["marketplace"],
        responses={**DOCUMENT_FILE, **DOCUMENT_ERRORS},
        summary="Download the invoice's PDF (the buyer or the invoice's provider)",
    )
    def get(self, request, invoice_id: int):
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        return invoice_document_response(
            request, invoice_ref("marketplace_invoice", invoice), issued=invoice.sent_at is not None
        )


class MarketplaceInvoiceDocumentListView(MarketplaceAPIView):
    """The invoice's rendered documents: its own PDF and one per refund's credit note, oldest first."""

    pagination_class = PageNumber
    serializer_class = DocumentOut
    queryset = MarketplaceInvoiceDocument.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_documents_list",
        tags=["marketplace"],
        responses={200: DocumentOut(many=True), **READ_ERRORS},
        summary="The invoice's documents (invoice and credit notes)",
    )
    def get(self, request, invoice_id: int):
        selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        rows = MarketplaceInvoiceDocument.objects.using(DB).filter(invoice_id=invoice_id).order_by("id")
        page = self.paginate_queryset(rows)
        context = {"base": f"/api/v1/marketplace/invoices/{invoice_id}/documents/"}
        return self.get_paginated_response(DocumentOut(page, many=True, context=context).data)


class MarketplaceInvoiceDocumentFileView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """One of the invoice's documents, by its id."""

    queryset = MarketplaceInvoiceDocument.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_documents_download",
        tags=["marketplace"],
        responses={**DOCUMENT_FILE, **READ_ERRORS},
        summary="Download one of the invoice's documents",
    )
    def get(self, request, invoice_id: int, document_id: int):
        selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        row = MarketplaceInvoiceDocument.objects.using(DB).filter(invoice_id=invoice_id, pk=document_id).first()
        if row is None:
            raise NotFound(f"Document {document_id} of invoice {invoice_id} not found.")
        return file_response(request, row)


class TransactionDocumentView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """The buyer of a breeder's sale downloads the breeder's invoice PDF (the invoice lives in the
    breeder's tenant; read in its context, for this buyer's purchase only)."""

    queryset = MarketplaceInvoiceDocument.objects.none()
    _tenant_invoice_transaction = TransactionReceiptView._tenant_invoice_transaction

    @extend_schema(
        operation_id="marketplace_transactions_document_download",
        tags=["marketplace"],
        responses={**DOCUMENT_FILE, **DOCUMENT_ERRORS, **problems(e400="No breeder invoice on this purchase")},
        summary="Download the breeder's invoice PDF for your purchase (the buyer)",
    )
    def get(self, request, transaction_id: int):
        from breederhq.tenancy import tenant_context
        from tenant_app.models import Invoice

        tx = self._tenant_invoice_transaction(request, transaction_id)
        with tenant_context(tx.provider.tenant_id):
            invoice = Invoice.objects.filter(pk=tx.invoice_id).only("id", "tenant_id", "sent_at").first()
        if invoice is None:
            raise NotFound(f"Transaction {transaction_id} has no invoice.")
        return invoice_document_response(
            request, invoice_ref("tenant_invoice", invoice), issued=invoice.sent_at is not None
        )
