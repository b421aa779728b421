"""One status enum and one transition table for every invoice kind."""

from __future__ import annotations

from django.db import models

from breederhq.state_machine import StateMachine


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    PENDING_CONFIRMATION = "pending_confirmation", "Pending confirmation"
    PAID = "paid", "Paid"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOID = "void", "Void"


#: The one table of invoice transitions. A partial refund after a partial refund stays in
#: `partially_refunded`; `pending_confirmation -> sent` is a rejection or the 7-day expiry.
INVOICE_TRANSITIONS = StateMachine(
    "Invoice",
    {
        InvoiceStatus.DRAFT: {InvoiceStatus.SENT, InvoiceStatus.VOID},
        InvoiceStatus.SENT: {InvoiceStatus.PENDING_CONFIRMATION, InvoiceStatus.PAID, InvoiceStatus.VOID},
        InvoiceStatus.PENDING_CONFIRMATION: {InvoiceStatus.PAID, InvoiceStatus.SENT, InvoiceStatus.VOID},
        InvoiceStatus.PAID: {InvoiceStatus.PARTIALLY_REFUNDED, InvoiceStatus.REFUNDED},
        InvoiceStatus.PARTIALLY_REFUNDED: {InvoiceStatus.PARTIALLY_REFUNDED, InvoiceStatus.REFUNDED},
        InvoiceStatus.REFUNDED: set(),
        InvoiceStatus.VOID: set(),
    },
)

#: Money was taken: refunds are possible, a second payment is not.
REFUNDABLE = frozenset({InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_REFUNDED})
#: Issued and not settled: a payment settles it.
PAYABLE = frozenset({InvoiceStatus.SENT, InvoiceStatus.PENDING_CONFIRMATION})
#: Paid at some point (refunded ones included): a late "paid" changes nothing.
SETTLED = frozenset({*REFUNDABLE, InvoiceStatus.REFUNDED})


class PaymentModeSnapshot(models.TextChoices):
    """How an issued invoice of either kind is collected (its `payment_mode_snapshot`)."""

    STRIPE = "stripe", "Stripe"
    MANUAL = "manual", "Manual"


class ConfirmationEvent(models.TextChoices):
    """The steps of a payment confirmation, for both kinds."""

    BUYER_MARKED_PAID = "buyer_marked_paid", "Buyer marked paid"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired unconfirmed"
