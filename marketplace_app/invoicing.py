"""The marketplace kind's adapter to the invoice core (breederhq/invoicing/): marketplace database,
marketplace users as actors, the buyer and the provider's user as email recipients."""

from __future__ import annotations

from breederhq.databases import MARKETPLACE_DB
from breederhq.invoicing.lifecycle import InvoiceFacts, InvoiceKind
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplacePaymentConfirmationAudit,
    MarketplaceUser,
    Provider,
)


class MarketplaceInvoiceKind(InvoiceKind):
    key = "marketplace"
    name = "marketplace_invoice"
    using = MARKETPLACE_DB
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
            buyer = (
                MarketplaceUser.all_objects.using(self.using)
                .filter(pk=invoice.client_id, deleted_at__isnull=True)
                .first()
            )
            return [buyer.email] if buyer is not None else []
        provider = self._provider(invoice)
        return [provider.user.email] if provider.user.deleted_at is None else []

    def seller_name(self, invoice) -> str:
        return self._provider(invoice).business_name

    # --- what payments ask (breederhq/invoicing/lifecycle.py); the platform owns these invoices ----

    def facts(self, invoice_id: int, *, tenant_id: int | None) -> InvoiceFacts | None:
        invoice = MarketplaceInvoice.objects.using(self.using).filter(pk=invoice_id).first()
        if invoice is None:
            return None
        return InvoiceFacts(
            self.key,
            invoice.pk,
            None,
            invoice.provider_id,
            invoice.number,
            invoice.status,
            invoice.payment_mode_snapshot,
            invoice.total_cents,
            invoice.refunded_cents,
            invoice.currency,
            invoice.version,
            invoice.total_cents if invoice.paid_at is not None else 0,
        )

    def mark_paid(self, invoice_id: int, *, tenant_id: int | None, method: str, reference: str) -> None:
        from marketplace_app import services

        services.marketplace_invoice_mark_paid(invoice_id=invoice_id, source=method)

    def void(self, invoice_id: int, *, tenant_id: int | None, reason: str) -> None:
        from marketplace_app import services

        version = MarketplaceInvoice.objects.using(self.using).values_list("version", flat=True).get(pk=invoice_id)
        services.marketplace_invoice_void(invoice_id=invoice_id, expected_version=version)

    def set_reconciliation_status(
        self, invoice_id: int, *, tenant_id: int | None, status: str, note: str, actor_label: str
    ) -> None:
        # The invoice's audit shows the change; the note stays on the payment row (as it always has).
        from marketplace_app import services

        services.marketplace_invoice_set_reconciliation_status(invoice_id=invoice_id, status=status)

    def reconciliation_rows(self, invoice_ids: list[int]) -> dict[int, tuple[str, int, str, str, int | None]]:
        return {
            pk: (*row, None)
            for pk, *row in MarketplaceInvoice.objects.using(self.using)
            .filter(pk__in=invoice_ids)
            .values_list("pk", "status", "total_cents", "currency", "reconciliation_status")
        }

    def refund(
        self,
        invoice_id: int,
        *,
        tenant_id: int | None,
        amount_cents: int,
        reason: str,
        ledger_key: str,
        method: str,
        reference: str = "",
        refund_id: str | None = None,
        actor=None,
        refunded_total_cents: int | None = None,
    ):
        """On the invoice itself (no ledger): once per provider refund id when there is one, else
        judged by the cumulative `refunded_total_cents`. The actor is a marketplace user id."""
        from marketplace_app import services

        actor_id = actor if isinstance(actor, int) and not isinstance(actor, bool) else None
        return services.marketplace_invoice_refund(
            invoice_id=invoice_id,
            amount_cents=amount_cents,
            actor_id=actor_id,
            refunded_total_cents=refunded_total_cents,
            stripe_refund_id=refund_id or None,
        )

    def refund_record(self, invoice_id: int, *, tenant_id: int | None, ledger_key: str):
        return MarketplaceInvoice.objects.using(self.using).get(pk=invoice_id)


#: Marketplace actors are marketplace user ids (the audit's `changed_by_id`, `confirmed_by_id`).
MARKETPLACE_INVOICES = MarketplaceInvoiceKind()
