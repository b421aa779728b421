"""The marketplace kind's adapter to the invoice core (breederhq/invoicing/): marketplace database,
marketplace users as actors, the buyer and the provider's user as email recipients."""

from __future__ import annotations

from breederhq.invoicing.lifecycle import InvoiceKind
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplacePaymentConfirmationAudit,
    MarketplaceUser,
    Provider,
)


class MarketplaceInvoiceKind(InvoiceKind):
    name = "marketplace_invoice"
    using = "marketplace"
    model = MarketplaceInvoice
    audit_model = MarketplaceInvoiceAuditLog
    confirmation_model = MarketplacePaymentConfirmationAudit
    entity = "MarketplaceInvoice"
    actor_prefix = "marketplace_user"

    def actor_columns(self, actor) -> dict:
        return {"changed_by_id": actor}

    def confirmer_columns(self, actor) -> dict:
        return {"confirmed_by_id": actor}

    def claimant_id(self, confirmation_row):
        return confirmation_row.marked_paid_by_id

    def describe(self, invoice) -> str:
        return f"MarketplaceInvoice #{invoice.pk}"

    def _provider(self, invoice) -> Provider:
        return Provider.all_objects.using(self.using).select_related("user").get(pk=invoice.provider_id)

    def recipients(self, invoice, audience: str) -> list[str]:
        if audience == "buyer":
            buyer = MarketplaceUser.all_objects.using(self.using).filter(
                pk=invoice.client_id, deleted_at__isnull=True).first()
            return [buyer.email] if buyer is not None else []
        provider = self._provider(invoice)
        return [provider.user.email] if provider.user.deleted_at is None else []

    def seller_name(self, invoice) -> str:
        return self._provider(invoice).business_name


#: Marketplace actors are marketplace user ids (the audit's `changed_by_id`, `confirmed_by_id`).
MARKETPLACE_INVOICES = MarketplaceInvoiceKind()
