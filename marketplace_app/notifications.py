"""Marketplace-invoice emails: the same table and templates as tenant invoices
(breederhq/invoicing/lifecycle.py); the provider's business name stands where the tenant's would.
Called inside the service's transaction."""

from __future__ import annotations

from breederhq.invoicing.lifecycle import send_emails
from marketplace_app.invoicing import MARKETPLACE_INVOICES
from marketplace_app.models import MarketplaceInvoice


def marketplace_invoice_event_emails(invoice: MarketplaceInvoice, *, action: str, reason: str = "") -> None:
    send_emails(MARKETPLACE_INVOICES, invoice, action=action, metadata={"reason": reason})

