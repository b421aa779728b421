"""Tenant invoices: their lines, numbering, audit trail and payment-confirmation steps."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesMixin, SoftDeleteModel
from breederhq.invoicing.models import (
    AbstractInvoice,
    AbstractInvoiceAuditLog,
    AbstractInvoiceLineItem,
    AbstractPaymentConfirmationAudit,
)
from breederhq.invoicing.status import INVOICE_TRANSITIONS as _INVOICE_TRANSITIONS
from breederhq.invoicing.status import InvoiceStatus as _InvoiceStatus
from breederhq.money import CentsField, amount_bound_check, currency_check
from breederhq.reconciliation import ReconciliationStatus as _ReconciliationStatus
from breederhq.reconciliation import reconciliation_status_check
from tenant_app.models.accounts import User
from tenant_app.models.contacts import Contact
from tenant_app.models.tenants import PaymentMode, TenantOwned

# One status enum and one transition table for every invoice kind (breederhq/invoicing/status.py).
InvoiceStatus = _InvoiceStatus
INVOICE_TRANSITIONS = _INVOICE_TRANSITIONS


# One set for every invoice kind and payment row (breederhq/reconciliation.py); re-exported here.
ReconciliationStatus = _ReconciliationStatus


def receipt_upload_path(instance: Invoice, filename: str) -> str:
    return f"tenants/{instance.tenant_id}/receipts/{instance.pk or 'new'}/{filename}"


class Invoice(TenantOwned, SoftDeleteModel, AbstractInvoice):
    """A breeder's invoice. Once sent it is a ledger document: its amounts, lines, currency and
    payment mode never change (a trigger enforces it); corrections are void + reissue and refunds
    issue credit notes. The common columns and the lifecycle are the invoice core's
    (breederhq/invoicing/); this adds the tenant, the contact, payments and replacement."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="invoices")
    paid_cents = CentsField()
    payment_mode_snapshot = models.CharField(max_length=20, choices=PaymentMode.choices)
    buyer_payment_receipt = models.FileField(upload_to=receipt_upload_path, max_length=500, blank=True, default="")
    is_marketplace_invoice = models.BooleanField(default=False)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "invoices"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "invoice_number"], name="invoices_number_unique_per_tenant"),
            models.UniqueConstraint(fields=["id", "tenant"], name="invoices_id_tenant_unique"),
            currency_check(name="invoices_currency_iso"),
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="invoices_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_mode_snapshot__in=PaymentMode.values), name="invoices_payment_mode_valid"
            ),
            reconciliation_status_check(name="invoices_reconciliation_status_valid"),
            models.CheckConstraint(
                condition=Q(subtotal_cents__gte=0, tax_cents__gte=0, paid_cents__gte=0, refunded_cents__gte=0),
                name="invoices_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_cents=models.F("subtotal_cents") + models.F("tax_cents")),
                name="invoices_total_is_subtotal_plus_tax",
            ),
            # breederhq.money.MAX_AMOUNT_CENTS: with the checks above, bounds every amount of the invoice.
            amount_bound_check("total_cents", name="invoices_total_within_bound"),
            models.CheckConstraint(
                condition=Q(paid_cents__lte=models.F("total_cents")), name="invoices_paid_not_above_total"
            ),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=models.F("paid_cents")), name="invoices_refunded_not_above_paid"
            ),
            # Issued documents stay visible in the ledger: only drafts and void invoices are
            # (soft-)deleted.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
                name="invoices_only_draft_or_void_deleted",
            ),
            # A manual payment claimed by the buyer always has a receipt.
            models.CheckConstraint(
                condition=~Q(payment_mode_snapshot="manual")
                | Q(buyer_marked_paid_at__isnull=True)
                | ~Q(buyer_payment_receipt=""),
                name="invoices_manual_mark_paid_needs_receipt",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="invoices_tenant_status_idx"),
            # The 7-day expiry sweep of buyers' unconfirmed claims.
            models.Index(
                fields=["status", "buyer_marked_paid_at"],
                name="invoices_pending_confirm_idx",
                condition=Q(status=InvoiceStatus.PENDING_CONFIRMATION),
            ),
        ]

    @property
    def balance_cents(self) -> int:
        return self.total_cents - self.paid_cents


class InvoiceLineItem(TenantOwned, AbstractInvoiceLineItem):
    """One line of a tenant invoice (columns: breederhq/invoicing/models.py)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="line_items")
    description = models.CharField(max_length=500)

    class Meta(AbstractInvoiceLineItem.Meta):
        db_table = "invoice_line_items"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_items_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price_cents__gte=0), name="invoice_line_items_price_not_negative"),
            models.CheckConstraint(
                condition=Q(total_cents=models.F("quantity") * models.F("unit_price_cents")),
                name="invoice_line_items_total_is_quantity_times_price",
            ),
            amount_bound_check("total_cents", name="invoice_line_items_total_within_bound"),
        ]


class DocumentSequence(TenantOwned):
    """Gap-free per-tenant numbering of invoices and credit notes (rolls back with its transaction)."""

    kind = models.CharField(max_length=20)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "tenant_document_sequences"
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="tenant_document_sequences_unique")]

    def __str__(self) -> str:
        return f"{self.kind} numbering of tenant #{self.tenant_id}: last {self.last_value}"


class InvoiceAuditLog(TenantOwned, AbstractInvoiceAuditLog):
    """The audit trail of tenant invoices (columns: breederhq/invoicing/models.py). Append-only."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="audit_log")
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "invoice_audit_log"
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice", "id"], name="invoice_audit_log_invoice_idx")]


class PaymentConfirmationAudit(CrossDatabaseReferencesMixin, TenantOwned, AbstractPaymentConfirmationAudit):
    """Each step of a tenant invoice's payment confirmation (columns: breederhq/invoicing/models.py).
    Append-only."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="confirmation_audit")
    marked_paid_by_marketplace_user_id = CrossDatabaseReference(
        "marketplace_app.MarketplaceUser", null=True, blank=True, db_index=False
    )
    confirmed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "payment_confirmation_audit"
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice", "id"], name="payment_confirm_audit_inv_idx")]
