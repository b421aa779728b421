"""Marketplace invoices of non-breeder service providers: lines, audit trail and payment-confirmation steps."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from breederhq.crossdb import (
    SoftDeleteModel,
)
from breederhq.invoicing.models import (
    AbstractInvoice,
    AbstractInvoiceAuditLog,
    AbstractInvoiceLineItem,
    AbstractPaymentConfirmationAudit,
)
from breederhq.invoicing.status import INVOICE_TRANSITIONS, InvoiceStatus
from breederhq.money import amount_bound_check, currency_check
from breederhq.reconciliation import reconciliation_status_check
from marketplace_app.invoice_deletion import (
    MarketplaceInvoiceAllObjects,
    MarketplaceInvoiceManager,
    marketplace_invoice_delete,
)
from marketplace_app.models.providers import Provider
from marketplace_app.models.transactions import MarketplaceTransaction
from marketplace_app.models.users import MarketplaceUser


def marketplace_receipt_upload_path(instance: MarketplaceInvoice, filename: str) -> str:
    return f"marketplace/receipts/{instance.provider_id}/{instance.pk or 'new'}/{filename}"


class MarketplaceInvoice(SoftDeleteModel, AbstractInvoice):
    """The invoice of a non-breeder service provider (breeders bill with the tenant Invoice). The
    common columns and the lifecycle are the invoice core's (breederhq/invoicing/).

    Only service providers can own one: `(provider_id, provider_kind)` is a composite foreign key to
    `marketplace_providers (id, kind)` (added in SQL by the migration) and `provider_kind` is fixed
    to 'service_provider' by a CHECK, so PostgreSQL itself refuses a breeder's invoice, and refuses
    turning a provider that has invoices into a breeder.
    """

    class PaymentMode(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="marketplace_invoices")
    provider_kind = models.CharField(max_length=20, default="service_provider", editable=False)
    transaction = models.ForeignKey(
        MarketplaceTransaction, on_delete=models.PROTECT, related_name="marketplace_invoices"
    )
    client = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="marketplace_invoices")
    #: The column keeps its first name, `number`.
    invoice_number = models.CharField(max_length=50, db_column="number")
    payment_mode_snapshot = models.CharField(max_length=20, choices=PaymentMode.choices)
    stripe_invoice_id = models.CharField(max_length=50, null=True, blank=True, unique=True)
    # The buyer's receipt: a file uploaded through the API (Django storage), or (older clients) a URL.
    buyer_payment_receipt = models.FileField(
        upload_to=marketplace_receipt_upload_path, max_length=500, blank=True, default=""
    )
    buyer_payment_receipt_url = models.URLField(max_length=500, null=True, blank=True)
    #: Deprecated: the due date as an instant, written alongside `due_date` (its midnight UTC) for one
    #: release, then dropped (docs/architecture/invoices-and-payments.md, "Due dates").
    due_at = models.DateTimeField(null=True, blank=True)
    #: Soft delete only (marketplace_app/invoice_deletion.py); indexed by a partial index (Meta).
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MarketplaceInvoiceManager()
    all_objects = MarketplaceInvoiceAllObjects()

    def delete(self, using=None, keep_parents=False):
        marketplace_invoice_delete(invoice_id=self.pk, actor_label="system:model_delete")
        self.refresh_from_db(using=using, fields=["deleted_at", "version", "updated_at"])
        return 0, {}

    @property
    def number(self) -> str:
        """The name this column had here before the core named it `invoice_number`."""
        return self.invoice_number

    @number.setter
    def number(self, value: str) -> None:
        self.invoice_number = value

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remembered for the transition metric (services set the new status before saving).
        instance._loaded_status = instance.__dict__.get("status", "")  # never loads a deferred field
        return instance

    class Meta:
        db_table = "marketplace_invoices"
        constraints = [
            amount_bound_check(
                "subtotal_cents",
                "tax_cents",
                "total_cents",
                "refunded_cents",
                name="marketplace_invoices_amounts_within_bound",
            ),
            models.CheckConstraint(
                condition=Q(provider_kind="service_provider"), name="marketplace_invoices_service_provider_only"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        InvoiceStatus.DRAFT,
                        InvoiceStatus.SENT,
                        InvoiceStatus.PENDING_CONFIRMATION,
                        InvoiceStatus.PAID,
                        InvoiceStatus.VOID,
                        InvoiceStatus.PARTIALLY_REFUNDED,
                        InvoiceStatus.REFUNDED,
                    ]
                ),
                name="marketplace_invoices_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(payment_mode_snapshot__in=["stripe", "manual"]),
                name="marketplace_invoices_payment_mode_valid",
            ),
            reconciliation_status_check(name="marketplace_invoices_reconciliation_valid"),
            # The receipt rule: a buyer's manual "I paid" needs a receipt.
            models.CheckConstraint(
                condition=~Q(payment_mode_snapshot="manual")
                | Q(buyer_marked_paid_at__isnull=True)
                | Q(buyer_payment_receipt_url__isnull=False)
                | ~Q(buyer_payment_receipt=""),
                name="marketplace_invoices_manual_payment_receipt_v2",
            ),
            models.CheckConstraint(
                condition=Q(total_cents__gte=0, refunded_cents__gte=0, refunded_cents__lte=F("total_cents")),
                name="marketplace_invoices_amounts_valid",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="marketplace_invoices_version_positive"),
            currency_check(name="marketplace_invoices_currency_valid"),
            models.UniqueConstraint(fields=["provider", "invoice_number"], name="marketplace_invoices_number_unique"),
            # Single invoice strategy: at most one live (non-void) invoice per transaction.
            models.UniqueConstraint(
                fields=["transaction"],
                condition=~Q(status=InvoiceStatus.VOID),
                name="marketplace_invoices_one_live_per_tx",
            ),
            # Issued documents stay visible: only drafts and void invoices are (soft-)deleted.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
                name="marketplace_invoices_only_draft_or_void_deleted",
            ),
        ]
        indexes = [
            models.Index(fields=["transaction", "status"], name="mkt_invoices_tx_status"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="mkt_invoices_deleted"),
            # The 7-day expiry sweep of pending confirmations.
            models.Index(
                fields=["buyer_marked_paid_at"],
                condition=Q(status=InvoiceStatus.PENDING_CONFIRMATION),
                name="mkt_invoices_pending_conf_age",
            ),
        ]


# The one table of invoice transitions (breederhq/invoicing/status.py).
INVOICE_STATES = INVOICE_TRANSITIONS


class MarketplaceInvoiceLineItem(AbstractInvoiceLineItem):
    """One line of a marketplace invoice (columns: breederhq/invoicing/models.py)."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.CASCADE, related_name="line_items")
    description = models.TextField()

    class Meta(AbstractInvoiceLineItem.Meta):
        db_table = "marketplace_invoice_line_items"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="mkt_invoice_lines_quantity_positive"),
            models.CheckConstraint(
                condition=Q(total_cents=F("quantity") * F("unit_price_cents")),
                name="mkt_invoice_lines_total_matches",
            ),
            amount_bound_check("unit_price_cents", "total_cents", name="mkt_invoice_lines_amounts_within_bound"),
        ]


class MarketplaceInvoiceAuditLog(AbstractInvoiceAuditLog):
    """The audit trail of marketplace invoices, in the marketplace database, written in the same
    transaction as each change (columns: breederhq/invoicing/models.py). Append-only: the
    application role has no UPDATE or DELETE on it (breederhq/db_roles.py)."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.PROTECT, related_name="audit_log")
    changed_by = models.ForeignKey(MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(AbstractInvoiceAuditLog.Meta):
        db_table = "marketplace_invoice_audit_log"
        indexes = [models.Index(fields=["invoice", "id"], name="mkt_invoice_audit_invoice_idx")]


class MarketplacePaymentConfirmationAudit(AbstractPaymentConfirmationAudit):
    """Each step of a marketplace invoice's payment confirmation, in the marketplace database.
    Append-only."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.PROTECT, related_name="confirmation_audit")
    marked_paid_by = models.ForeignKey(
        MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by = models.ForeignKey(MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(AbstractPaymentConfirmationAudit.Meta):
        db_table = "marketplace_payment_confirmation_audit"
        indexes = [models.Index(fields=["invoice", "id"], name="mkt_payment_confirm_inv_idx")]
