"""The Stripe refunds recorded on marketplace invoices, one row per Stripe refund id.

A card refund of a marketplace invoice is accepted by Stripe, then recorded in two databases: the
refund request (tenant database, payments_app/refunds/) and the invoice's refunded amount (this
database). A process that dies between the two leaves one written and not the other; whoever
finishes the refund afterwards (the client's retry, the sweep, the `refund.*` webhook, the outbox
message `payments.refund_recorded`) records it through `marketplace_invoice_refund(...,
stripe_refund_id=...)`, which adds the amount only if this table has no row for that refund id yet.
The unique constraint makes a second row impossible even for a path that forgets to look.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from breederhq.money import CentsField, CurrencyField


class MarketplaceInvoiceRefund(models.Model):
    """One Stripe refund recorded on a marketplace invoice; written in the same transaction as the
    invoice's refunded amount. Append-only (the application role may not change or delete it)."""

    append_only = True

    invoice = models.ForeignKey(
        "marketplace_app.MarketplaceInvoice", on_delete=models.PROTECT, related_name="stripe_refunds"
    )
    stripe_refund_id = models.CharField(max_length=100)
    amount_cents = CentsField()
    currency = CurrencyField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "marketplace_app"
        db_table = "marketplace_invoice_refunds"
        ordering = ["id"]
        constraints = [
            # A constraint, not unique=True: no extra varchar_pattern_ops index.
            models.UniqueConstraint(fields=["stripe_refund_id"], name="marketplace_invoice_refunds_one_per_refund"),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="marketplace_invoice_refunds_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} on invoice #{self.invoice_id}"


def refund_already_recorded(*, invoice, stripe_refund_id: str, using: str) -> bool:
    """Under the invoice's row lock (the caller holds it): whether this Stripe refund is recorded."""
    return MarketplaceInvoiceRefund.objects.using(using).filter(stripe_refund_id=stripe_refund_id).exists()


def refund_record(*, invoice, stripe_refund_id: str, amount_cents: int, using: str) -> MarketplaceInvoiceRefund:
    """In the transaction that adds `amount_cents` to the invoice's refunded amount."""
    return MarketplaceInvoiceRefund.objects.using(using).create(
        invoice=invoice, stripe_refund_id=stripe_refund_id, amount_cents=amount_cents, currency=invoice.currency
    )
