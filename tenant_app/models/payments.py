"""Money on tenant invoices: payments and refunds (rows of `payments`) and the credit notes refunds issue."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from breederhq.money import CentsField, CurrencyField, Money, currency_check
from tenant_app.models.accounts import User
from tenant_app.models.invoices import Invoice
from tenant_app.models.tenants import TenantOwned


class CreditNote(TenantOwned):
    """The document a refund issues, numbered in its own per-tenant sequence. Append-only."""

    append_only = True

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    credit_note_number = models.CharField(max_length=50)
    currency = CurrencyField()
    amount_cents = CentsField()
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "credit_notes"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "credit_note_number"], name="credit_notes_number_unique_per_tenant"
            ),
            models.UniqueConstraint(fields=["id", "tenant"], name="credit_notes_id_tenant_unique"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="credit_notes_amount_positive"),
            currency_check(name="credit_notes_currency_iso"),
        ]

    def __str__(self) -> str:
        return self.credit_note_number


class Payment(TenantOwned):
    """Money received for an invoice, or given back. Processor-agnostic.

    Refunds are **separate rows** with `kind = refund` and a *positive* `amount_cents`, each tied to
    the credit note it issued; nothing is ever negative and nothing is updated, so the invoice's
    `paid_cents` is the sum of its payment rows and `refunded_cents` the sum of its refund rows.
    `idempotency_key` is unique per tenant: recording the same payment twice returns the first row.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"

    class Method(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual (bank transfer, cash)"
        OTHER = "other", "Other"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAYMENT)
    method = models.CharField(max_length=10, choices=Method.choices)
    amount_cents = CentsField()
    currency = CurrencyField()
    external_reference = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=255)
    credit_note = models.ForeignKey(CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="payments_idempotency_key_unique_per_tenant"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payments_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=["payment", "refund"]), name="payments_kind_valid"),
            models.CheckConstraint(condition=Q(method__in=["stripe", "manual", "other"]), name="payments_method_valid"),
            models.CheckConstraint(
                condition=Q(kind="payment", credit_note__isnull=True) | Q(kind="refund", credit_note__isnull=False),
                name="payments_refund_has_credit_note",
            ),
            currency_check(name="payments_currency_iso"),
        ]
        indexes = [models.Index(fields=["invoice", "kind"], name="payments_invoice_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {Money(self.amount_cents, self.currency).format()} ({self.get_method_display()})"
