"""The tenant kind's adapter to the invoice core (breederhq/invoicing/): tenant database, row-level
security scoping every query to the current tenant, tenant users as actors, the tenant's owners and
admins as the seller's side of its emails."""

from __future__ import annotations

from breederhq.invoicing.lifecycle import InvoiceKind
from breederhq.invoicing.status import InvoiceStatus
from breederhq.outbox import outbox_enqueue
from tenant_app.models import Invoice, InvoiceAuditLog, PaymentConfirmationAudit, TenantMembership


class TenantInvoiceKind(InvoiceKind):
    name = "tenant_invoice"
    using = "default"
    model = Invoice
    audit_model = InvoiceAuditLog
    confirmation_model = PaymentConfirmationAudit
    entity = "Invoice"

    def owner_columns(self, invoice) -> dict:
        return {"tenant_id": invoice.tenant_id}

    def claimant_id(self, confirmation_row):
        return confirmation_row.marked_paid_by_marketplace_user_id

    def recipients(self, invoice, audience: str) -> list[str]:
        if audience == "buyer":
            return [invoice.contact.email] if invoice.contact.email else []
        return sorted(
            TenantMembership.objects.filter(tenant_id=invoice.tenant_id, role__in=["owner", "admin"])
            .exclude(user__email="").values_list("user__email", flat=True)
        )

    def seller_name(self, invoice) -> str:
        return invoice.tenant.name

    def after_change(self, invoice, *, old_status: str, action: str, metadata: dict) -> None:
        if invoice.is_marketplace_invoice and invoice.status == InvoiceStatus.PAID and old_status != InvoiceStatus.PAID:
            # The marketplace transaction this invoice bills becomes paid too: same transaction here,
            # applied in the marketplace database by the outbox relay (marketplace_app/outbox_handlers.py).
            outbox_enqueue(using=self.using, topic="tenant.invoice_paid",
                           payload={"invoice_id": invoice.pk, "tenant_id": invoice.tenant_id})
        if invoice.is_marketplace_invoice and action == "refunded":
            # The buyer sees it on the purchase: the cumulative total, so a repeat or a late message adds nothing.
            outbox_enqueue(using=self.using, topic="tenant.invoice_refunded",
                           payload={"invoice_id": invoice.pk, "tenant_id": invoice.tenant_id,
                                    "refunded_cents": invoice.refunded_cents})


TENANT_INVOICES = TenantInvoiceKind()
