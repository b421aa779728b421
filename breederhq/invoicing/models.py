"""Abstract models: the columns every invoice kind has, under one set of names, and the columns of
the two audit trails (invoice changes, payment confirmations). Each kind's concrete model adds its
owner (tenant and contact, or provider and buyer), its receipt storage and its own constraints."""

from __future__ import annotations

from django.db import models

from breederhq.invoicing.status import ConfirmationEvent, InvoiceStatus
from breederhq.money import CentsField, CurrencyField
from breederhq.reconciliation import ReconciliationStatus


class AbstractInvoice(models.Model):
    """An invoice of any kind. Once sent it is a ledger document; every change bumps `version`
    (optimistic locking) and writes one audit row in the same transaction
    (breederhq/invoicing/lifecycle.py)."""

    Status = InvoiceStatus
    ReconciliationStatus = ReconciliationStatus

    invoice_number = models.CharField(max_length=50)
    status = models.CharField(max_length=30, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    currency = CurrencyField()
    subtotal_cents = CentsField()
    tax_cents = CentsField()
    total_cents = CentsField()
    refunded_cents = CentsField()
    #: Taken from the owner's payment mode while its row is locked FOR UPDATE; never re-read afterwards.
    payment_mode_snapshot = models.CharField(max_length=20)
    payment_mode_locked_at = models.DateTimeField()
    buyer_marked_paid_at = models.DateTimeField(null=True, blank=True)
    reconciliation_status = models.CharField(
        max_length=20, choices=ReconciliationStatus.choices, default=ReconciliationStatus.SYNCED
    )
    version = models.PositiveIntegerField(default=1)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    #: A calendar date, the same name and meaning in both kinds (breederhq/invoicing/due_dates.py).
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.invoice_number


class AbstractInvoiceLineItem(models.Model):
    """One line of an invoice: `total_cents = quantity * unit_price_cents` (a CHECK on each kind's
    table). Frozen once the invoice is sent. Each kind adds its invoice and its description."""

    quantity = models.PositiveIntegerField(default=1)
    unit_price_cents = CentsField()
    total_cents = CentsField()
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {getattr(self, 'description', '')}".strip()


class AbstractInvoiceAuditLog(models.Model):
    """One row per change to an invoice, written in the same transaction as the change. Append-only
    (the application role may not UPDATE or DELETE it: breederhq/db_roles.py).

    `old_status == new_status` for changes that keep the status (a partial payment, a draft edit).
    """

    append_only = True

    action = models.CharField(max_length=50)
    old_status = models.CharField(max_length=30, blank=True)
    new_status = models.CharField(max_length=30)
    payment_mode = models.CharField(max_length=20)
    #: Who acted when it was not a user of this database: "stripe", "system:expire_pending", ...
    actor = models.CharField(max_length=100, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.old_status or '-'} -> {self.new_status}"


class AbstractPaymentConfirmationAudit(models.Model):
    """Each step of a payment confirmation: the buyer's claim, the seller's (or Stripe's) confirmation
    or rejection, the 7-day expiry. Same transaction as the step. Append-only."""

    append_only = True
    Event = ConfirmationEvent

    event = models.CharField(max_length=30, choices=ConfirmationEvent.choices)
    marked_paid_at = models.DateTimeField(null=True, blank=True)
    confirmed_by_actor = models.CharField(max_length=100, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    payment_method = models.CharField(max_length=20, blank=True)
    payment_reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event} ({self.payment_method or 'no method'})"


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


def document_file_name(instance, filename: str) -> str:
    """Documents are stored under the name their service chose (breederhq/invoicing/documents.py)."""
    return filename


class AbstractInvoiceDocument(models.Model):
    """The PDF of a sent invoice or of a credit note, rendered once by a worker and never changed:
    append-only (no UPDATE or DELETE for the application role), one row per invoice, kind, source
    and version (a unique constraint on each kind's table), the file's SHA-256 and size recorded
    with it. `source_id` is what the document renders: the invoice itself for `invoice`, the credit
    note (tenant) or the refund's audit row (marketplace) for `credit_note`. Only version 1 is
    written today; a later correction would be a new version, never an overwrite."""

    append_only = True
    Kind = DocumentKind

    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    source_id = models.BigIntegerField()
    version = models.PositiveIntegerField(default=1)
    #: The number printed on it: the invoice's or the credit note's.
    number = models.CharField(max_length=60)
    file = models.FileField(upload_to=document_file_name, max_length=500)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number} (v{self.version})"

    @staticmethod
    def common_checks(prefix: str) -> list[models.CheckConstraint]:
        Q = models.Q
        return [
            models.CheckConstraint(condition=Q(kind__in=DocumentKind.values), name=f"{prefix}_kind_valid"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name=f"{prefix}_sha256_hex"),
            models.CheckConstraint(condition=Q(size__gt=0, version__gte=1), name=f"{prefix}_size_and_version"),
            # An invoice's own document renders the invoice.
            models.CheckConstraint(
                condition=~Q(kind="invoice") | Q(source_id=models.F("invoice_id")),
                name=f"{prefix}_invoice_is_its_source",
            ),
        ]
