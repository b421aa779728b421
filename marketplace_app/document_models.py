"""The stored PDFs of marketplace invoices and their refunds' credit notes (imported by
marketplace_app/models/__init__.py; the columns are the invoice core's: breederhq/invoicing/models.py)."""

from __future__ import annotations

from django.db import models

from breederhq.invoicing.models import AbstractInvoiceDocument
from marketplace_app.models.invoices import MarketplaceInvoice


class MarketplaceInvoiceDocument(AbstractInvoiceDocument):
    """A marketplace invoice's or refund's PDF, in the marketplace database. Append-only."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.PROTECT, related_name="documents")

    class Meta(AbstractInvoiceDocument.Meta):
        app_label = "marketplace_app"
        db_table = "marketplace_invoice_documents"
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "kind", "source_id", "version"], name="mkt_invoice_documents_one_per_version"
            ),
            *AbstractInvoiceDocument.common_checks("mkt_invoice_documents"),
        ]
