"""The tenant kind's adapter to the invoice core (breederhq/invoicing/): tenant database, row-level
security scoping every query to the current tenant, tenant users as actors, the tenant's owners and
admins as the seller's side of its emails."""

from __future__ import annotations

from breederhq.databases import TENANT_DB
from breederhq.invoicing.lifecycle import InvoiceFacts, InvoiceKind
from breederhq.invoicing.status import InvoiceStatus
from breederhq.outbox import outbox_enqueue
from breederhq.tenancy import system_read_context, tenant_context
from tenant_app.models import Invoice, InvoiceAuditLog, PaymentConfirmationAudit, TenantMembership


class TenantInvoiceKind(InvoiceKind):
    key = "tenant"
    name = "tenant_invoice"
    using = TENANT_DB
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
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )

    def seller_name(self, invoice) -> str:
        return invoice.tenant.name

    def after_change(self, invoice, *, old_status: str, action: str, metadata: dict) -> None:
        if invoice.is_marketplace_invoice and invoice.status == InvoiceStatus.PAID and old_status != InvoiceStatus.PAID:
            # The marketplace transaction this invoice bills becomes paid too: same transaction here,
            # applied in the marketplace database by the outbox relay (marketplace_app/outbox_handlers.py).
            outbox_enqueue(
                using=self.using,
                topic="tenant.invoice_paid",
                payload={"invoice_id": invoice.pk, "tenant_id": invoice.tenant_id},
            )
        if invoice.is_marketplace_invoice and action == "refunded":
            # The buyer sees it on the purchase: the cumulative total, so a repeat or a late message adds nothing.
            outbox_enqueue(
                using=self.using,
                topic="tenant.invoice_refunded",
                payload={
                    "invoice_id": invoice.pk,
                    "tenant_id": invoice.tenant_id,
                    "refunded_cents": invoice.refunded_cents,
                },
            )

    # --- what payments ask (breederhq/invoicing/lifecycle.py); every call runs in the tenant's context ---

    tenant_owned = True

    def facts(self, invoice_id: int, *, tenant_id: int | None) -> InvoiceFacts | None:
        if tenant_id is None:
            return None
        with tenant_context(tenant_id):
            invoice = Invoice.all_objects.filter(pk=invoice_id).first()
        if invoice is None:
            return None
        return InvoiceFacts(
            self.key,
            invoice.pk,
            invoice.tenant_id,
            None,
            invoice.invoice_number,
            invoice.status,
            invoice.payment_mode_snapshot,
            invoice.total_cents,
            invoice.refunded_cents,
            invoice.currency,
            invoice.version,
            invoice.paid_cents,
        )

    def mark_paid(self, invoice_id: int, *, tenant_id: int | None, method: str, reference: str) -> None:
        from tenant_app import services

        with tenant_context(tenant_id):
            services.invoice_mark_paid(
                invoice_id=invoice_id,
                method=method,
                idempotency_key=f"{method}:{reference}",
                external_reference=reference,
                actor_label=method,
            )

    def void(self, invoice_id: int, *, tenant_id: int | None, reason: str) -> None:
        from tenant_app import services

        with tenant_context(tenant_id):
            services.invoice_void(invoice_id=invoice_id, reason=reason, actor=None)

    def set_reconciliation_status(
        self, invoice_id: int, *, tenant_id: int | None, status: str, note: str, actor_label: str
    ) -> None:
        from tenant_app import services

        with tenant_context(tenant_id):
            services.invoice_set_reconciliation_status(
                invoice_id=invoice_id, status=status, note=note, actor_label=actor_label
            )

    def reconciliation_rows(self, invoice_ids: list[int]) -> dict[int, tuple[str, int, str, str, int | None]]:
        with system_read_context(job="reconcile_stripe"):
            return {
                pk: row
                for pk, *row in Invoice.all_objects.filter(pk__in=invoice_ids).values_list(
                    "pk", "status", "total_cents", "currency", "reconciliation_status", "tenant_id"
                )
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
        """Into the tenant's ledger: a credit note, once per `ledger_key` (the provider's refund id
        is not needed: the key already names it)."""
        from tenant_app import services
        from tenant_app.models import User

        with tenant_context(tenant_id):
            return services.invoice_refund(
                invoice_id=invoice_id,
                amount_cents=amount_cents,
                reason=reason or "refund",
                idempotency_key=ledger_key,
                actor=actor if isinstance(actor, User) else None,
                method=method,
                external_reference=reference,
                refunded_total_cents=refunded_total_cents,
            )

    def refund_recorded(self, invoice_id: int, *, tenant_id: int | None, ledger_key: str) -> bool:
        from tenant_app.models import Payment

        with tenant_context(tenant_id):
            return Payment.objects.filter(idempotency_key=ledger_key).exists()

    def refund_record(self, invoice_id: int, *, tenant_id: int | None, ledger_key: str):
        from tenant_app.models import Payment

        with tenant_context(tenant_id):
            row = Payment.objects.filter(idempotency_key=ledger_key).select_related("credit_note").first()
            return row.credit_note if row is not None else None


TENANT_INVOICES = TenantInvoiceKind()
