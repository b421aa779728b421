"""The stored PDFs of tenant invoices and their credit notes (imported by tenant_app/models/__init__.py;
the columns are the invoice core's: breederhq/invoicing/models.py)."""

from __future__ import annotations

from django.db import models

from breederhq.invoicing.models import AbstractInvoiceDocument
from tenant_app.models.invoices import Invoice
from tenant_app.models.tenants import TenantOwned


class InvoiceDocument(TenantOwned, AbstractInvoiceDocument):
    """A tenant invoice's or credit note's PDF. Tenant-owned (row-level security), append-only."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="documents")

    class Meta(AbstractInvoiceDocument.Meta):
        app_label = "tenant_app"
        db_table = "invoice_documents"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "invoice", "kind", "source_id", "version"], name="invoice_documents_one_per_version"
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="invoice_documents_id_tenant_unique"),
            *AbstractInvoiceDocument.common_checks("invoice_documents"),
        ]
