"""Marketplace invoice writes (service providers' invoices): create, send, payment claims and
confirmations, void, refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from breederhq.currencies import check_stripe_charge
from breederhq.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from breederhq.files import files_removed_on_failure
from breederhq.invoicing import lifecycle
from breederhq.invoicing.due_dates import check_due_date, instant_of_due_date
from breederhq.invoicing.numbering import first_free_number, format_number
from breederhq.invoicing.status import ConfirmationEvent, InvoiceStatus
from breederhq.money import check_amount, check_lines
from breederhq.outbox import outbox_enqueue
from marketplace_app.invoicing import MARKETPLACE_INVOICES as KIND
from marketplace_app.models import (
    TRANSACTION_STATES,
    MarketplaceInvoice,
    MarketplaceInvoiceLineItem,
    MarketplaceTransaction,
    Provider,
)
from marketplace_app.services.common import _REVENUE_STATES, DB, _get_locked
from marketplace_app.services.transactions import _attach_invoice_locked, _transaction_move, _transaction_refund_locked

#: A buyer's "I paid" claim falls back to `sent` when the provider has not confirmed it by then.
PENDING_CONFIRMATION_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class LineItem:
    description: str
    unit_price_cents: int
    quantity: int = 1


# The lifecycle steps are the invoice core's (breederhq/invoicing/lifecycle.py), bound to this kind.
# Actors are marketplace user ids; `actor_label` names who acted otherwise ("stripe", "system:...").


def _lock_invoice(invoice_id: int) -> MarketplaceInvoice:
    return lifecycle.lock(KIND, invoice_id)


def _check_version(invoice: MarketplaceInvoice, expected_version: int | None) -> None:
    lifecycle.check_version(KIND, invoice, expected_version)


def _change(
    invoice: MarketplaceInvoice,
    *,
    action: str,
    fields: dict | None = None,
    new_status: str | None = None,
    actor: int | None = None,
    actor_label: str = "",
    metadata: dict | None = None,
) -> MarketplaceInvoice:
    return lifecycle.change(
        KIND,
        invoice,
        action=action,
        fields=fields,
        new_status=new_status,
        actor=actor,
        actor_label=actor_label,
        metadata=metadata,
    )


def marketplace_invoice_create(
    *,
    transaction_id: int,
    line_items: list[LineItem],
    tax_cents: int = 0,
    due_date=None,
    actor_id: int | None = None,
) -> MarketplaceInvoice:
    """Bill a service provider's transaction. Locks the provider row and snapshots its payment mode
    onto the invoice: a concurrent mode switch waits, and everything after reads the snapshot.
    `due_date` is also written as the deprecated `due_at` for one release (its midnight UTC)."""
    check_due_date(due_date)
    if not line_items:
        raise ValidationFailed("An invoice needs at least one line item.", field_errors={"line_items": ["Empty."]})
    for item in line_items:
        if item.quantity <= 0 or item.unit_price_cents < 0:
            raise ValidationFailed(
                "Line items need a positive quantity and a non-negative price.",
                field_errors={"line_items": ["Invalid line item."]},
            )
    check_amount("tax_cents", tax_cents)
    check_lines(line_items, field="line_items", tax_cents=tax_cents)  # no total can pass BIGINT
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        provider = Provider.all_objects.using(DB).select_for_update().get(pk=tx.provider_id)
        check_lines(line_items, field="line_items", tax_cents=tax_cents, currency=tx.currency)
        if provider.kind != Provider.Kind.SERVICE_PROVIDER:
            raise PermissionDenied(
                "Breeders bill with their tenant invoice; marketplace invoices are for service providers only.",
                code="breeder_uses_tenant_invoice",
            )
        if tx.invoice_id is not None:
            raise Conflict(
                f"Transaction #{tx.pk} already has a {tx.invoice_type} invoice #{tx.invoice_id}.",
                code="already_invoiced",
            )
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.INVOICED)
        if provider.payment_mode == Provider.PaymentMode.DISABLED:
            raise Conflict("This provider has marketplace payments disabled.", code="payments_disabled")
        mode = provider.payment_mode
        fallback = None
        if mode == Provider.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import stripe_mode_fallback

            fallback = stripe_mode_fallback(provider_id=provider.pk)
            if fallback is not None and not fallback.allowed:
                raise Conflict(f"Stripe cannot take this payment now ({fallback.reason}).", code="stripe_unavailable")
            if fallback is not None:
                mode = Provider.PaymentMode.MANUAL
        subtotal = sum(item.unit_price_cents * item.quantity for item in line_items)
        # Numbered after the provider's invoices, soft-deleted ones included, skipping any number
        # already taken (imported invoices); the provider row's lock serialises this.
        provider_invoices = MarketplaceInvoice.all_objects.using(DB).filter(provider=provider)
        prefix = f"MP-{provider.pk}-"
        sequence = first_free_number(
            provider_invoices, "invoice_number", prefix=prefix, start=provider_invoices.count() + 1
        )
        invoice = MarketplaceInvoice(
            provider=provider,
            transaction=tx,
            client_id=tx.client_id,
            invoice_number=format_number(prefix, sequence),
            currency=tx.currency,
            subtotal_cents=subtotal,
            tax_cents=tax_cents,
            total_cents=subtotal + tax_cents,
            payment_mode_snapshot=mode,
            payment_mode_locked_at=timezone.now(),
            due_date=due_date,
            due_at=instant_of_due_date(due_date),
        )
        invoice.save(using=DB)
        MarketplaceInvoiceLineItem.objects.using(DB).bulk_create(
            MarketplaceInvoiceLineItem(
                invoice=invoice,
                description=item.description,
                quantity=item.quantity,
                unit_price_cents=item.unit_price_cents,
                total_cents=item.unit_price_cents * item.quantity,
                sort_order=position,
            )
            for position, item in enumerate(line_items)
        )
        _attach_invoice_locked(tx, invoice_type="marketplace", invoice_id=invoice.pk)
        lifecycle.audit(
            KIND,
            invoice,
            action="created",
            old_status="",
            actor=actor_id,
            metadata={"payment_mode_fallback": fallback.reason} if fallback is not None else {},
        )
        if fallback is not None:
            # The flag lives in the tenant database: through the outbox, in this transaction, so it is
            # written exactly once the invoice exists for sure, and a tenant-database error cannot
            # turn the created invoice into a failed request (payments_app/outbox_handlers.py).
            outbox_enqueue(
                using=DB,
                topic="payments.record_fallback",
                payload={
                    "invoice_kind": "marketplace",
                    "invoice_id": invoice.pk,
                    "tenant_id": None,
                    "reason": fallback.reason,
                    "amount_cents": invoice.total_cents,
                    "currency": invoice.currency,
                    "connect_account_id": fallback.account_id,
                },
            )
    return invoice


def marketplace_invoice_send(
    *, invoice_id: int, expected_version: int, actor_id: int | None = None
) -> MarketplaceInvoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.check_send(KIND, invoice)
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            check_stripe_charge(invoice.currency, invoice.total_cents)  # Stripe's minimum and maximum
        _change(
            invoice, action="sent", new_status=InvoiceStatus.SENT, fields={"sent_at": timezone.now()}, actor=actor_id
        )
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_open_on_commit

            invoice_payment_open_on_commit(invoice_kind="marketplace", invoice_id=invoice.pk, tenant_id=None, using=DB)
    return invoice


def marketplace_invoice_buyer_mark_paid(
    *,
    invoice_id: int,
    buyer_id: int,
    expected_version: int,
    receipt: File | None = None,
    receipt_url: str | None = None,
) -> MarketplaceInvoice:
    """The buyer says they paid manually: needs a receipt; the provider then confirms.

    The receipt is an uploaded file (checked by the caller: `breederhq.api.uploads.check_receipt`),
    stored through Django's storage (removed again if the write fails); `receipt_url` is the older
    form, a link the buyer gives."""
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.client_id != buyer_id:
            raise NotFound(f"MarketplaceInvoice #{invoice_id} does not exist")
        _check_version(invoice, expected_version)
        if invoice.payment_mode_snapshot != MarketplaceInvoice.PaymentMode.MANUAL:
            raise Conflict(
                "This invoice is paid through Stripe, not marked paid by hand.", code="payment_mode_mismatch"
            )
        if receipt is None and not receipt_url:
            raise ValidationFailed(
                "A manual payment needs a receipt.", field_errors={"receipt": ["Upload the payment receipt."]}
            )
        lifecycle.check_transition(invoice, InvoiceStatus.PENDING_CONFIRMATION)
        now = timezone.now()
        fields: dict = {"buyer_marked_paid_at": now}
        if receipt is not None:
            stored.save(invoice.buyer_payment_receipt, getattr(receipt, "name", None) or "receipt", receipt)
            fields["buyer_payment_receipt"] = invoice.buyer_payment_receipt.name
        if receipt_url:
            fields["buyer_payment_receipt_url"] = receipt_url
        _change(
            invoice,
            action="buyer_marked_paid",
            new_status=InvoiceStatus.PENDING_CONFIRMATION,
            fields=fields,
            actor=buyer_id,
        )
        lifecycle.confirmation(
            KIND,
            invoice,
            event=ConfirmationEvent.BUYER_MARKED_PAID,
            marked_paid_by_id=buyer_id,
            marked_paid_at=now,
            payment_method=MarketplaceInvoice.PaymentMode.MANUAL,
            payment_reference=receipt_url or "",
        )
    return invoice


def marketplace_invoice_mark_paid(
    *,
    invoice_id: int,
    source: str,
    expected_version: int | None = None,
    actor_id: int | None = None,
    actor_label: str = "",
) -> tuple[MarketplaceInvoice, bool]:
    """Mark paid: by the Stripe webhook (`source="stripe"`) or the provider's manual confirmation
    (`source="manual"`). Locks the row; a second "paid" is a no-op. Returns (invoice, changed).

    `expected_version` is for people editing through the API; the webhook passes none.
    """
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.paid_at is not None:
            return invoice, False
        _check_version(invoice, expected_version)
        if source != invoice.payment_mode_snapshot:
            raise Conflict(
                f"This invoice was issued for {invoice.payment_mode_snapshot} payment; a {source} payment "
                f"does not settle it.",
                code="payment_mode_mismatch",
            )
        lifecycle.check_transition(invoice, InvoiceStatus.PAID)
        confirming_a_claim = invoice.status == InvoiceStatus.PENDING_CONFIRMATION
        label = actor_label or (
            "stripe" if source == MarketplaceInvoice.PaymentMode.STRIPE and actor_id is None else ""
        )
        _change(
            invoice,
            action="payment_confirmed" if confirming_a_claim else "marked_paid",
            new_status=InvoiceStatus.PAID,
            fields={"paid_at": timezone.now()},
            actor=actor_id,
            actor_label=label,
            metadata={"method": source, "amount_cents": invoice.total_cents},
        )
        lifecycle.confirmation(
            KIND,
            invoice,
            event=ConfirmationEvent.CONFIRMED,
            confirmed_by=actor_id,
            confirmed_by_actor=label,
            marked_paid_at=invoice.buyer_marked_paid_at,
            confirmed_at=invoice.paid_at,
            payment_method=source,
        )
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        if tx.status not in _REVENUE_STATES:
            _transaction_move(tx, MarketplaceTransaction.Status.PAID)
    return invoice, True


def _back_to_sent(
    invoice: MarketplaceInvoice,
    *,
    action: str,
    event: str,
    actor_id: int | None,
    actor_label: str,
    metadata: dict | None = None,
) -> None:
    """pending_confirmation -> sent (a rejection or an expiry), with its confirmation audit row."""
    marked_at = invoice.buyer_marked_paid_at
    _change(
        invoice,
        action=action,
        new_status=InvoiceStatus.SENT,
        fields={"buyer_marked_paid_at": None},
        actor=actor_id,
        actor_label=actor_label,
        metadata=metadata,
    )
    lifecycle.confirmation(
        KIND,
        invoice,
        event=event,
        confirmed_by=actor_id,
        confirmed_by_actor=actor_label,
        marked_paid_at=marked_at,
        confirmed_at=timezone.now(),
        payment_method=MarketplaceInvoice.PaymentMode.MANUAL,
        metadata=metadata or {},
    )


def marketplace_invoice_reject_payment_claim(
    *,
    invoice_id: int,
    expected_version: int | None,
    actor_id: int | None = None,
    actor_label: str = "",
    reason: str = "",
) -> MarketplaceInvoice:
    """pending_confirmation -> sent: the provider did not receive the money, or the claim expired."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="reject")
        _back_to_sent(
            invoice,
            action="payment_rejected",
            event=ConfirmationEvent.REJECTED,
            actor_id=actor_id,
            actor_label=actor_label,
            metadata={"reason": reason} if reason else None,
        )
    return invoice


def marketplace_invoice_set_reconciliation_status(
    *, invoice_id: int, status: str, note: str = "", actor_label: str = ""
) -> MarketplaceInvoice:
    """What Stripe says disagrees (or agrees again) with this invoice, or staff closing a disagreement
    (`resolved`, only on an invoice that disagrees: breederhq/invoicing/lifecycle.py)."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.reconciliation_status != status:
            lifecycle.check_reconciliation_change(KIND, invoice, status)
            _change(
                invoice,
                action="reconciliation",
                fields={"reconciliation_status": status},
                actor_label=actor_label,
                metadata={"from": invoice.reconciliation_status, "note": note},
            )
    return invoice


def marketplace_invoice_expire_pending_confirmations(*, now=None) -> int:
    """Beat: claims unconfirmed for 7 days fall back to `sent`. Safe to run twice."""
    cutoff = (now or timezone.now()) - PENDING_CONFIRMATION_TIMEOUT
    expired = 0
    ids = list(
        MarketplaceInvoice.objects.using(DB)
        .filter(status=InvoiceStatus.PENDING_CONFIRMATION, buyer_marked_paid_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    for invoice_id in ids:
        with transaction.atomic(using=DB):
            invoice = _lock_invoice(invoice_id)
            # Re-checked under the lock: a confirmation may have landed since the scan.
            if invoice.status != InvoiceStatus.PENDING_CONFIRMATION or invoice.buyer_marked_paid_at >= cutoff:
                continue
            _back_to_sent(
                invoice,
                action="confirmation_expired",
                event=ConfirmationEvent.EXPIRED,
                actor_id=None,
                actor_label="system:expire_pending",
            )
            expired += 1
    return expired


def marketplace_invoice_void(
    *, invoice_id: int, expected_version: int, actor_id: int | None = None, actor_label: str = ""
) -> MarketplaceInvoice:
    """Void an unpaid invoice; the sale is off, so its transaction is cancelled with it."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        _change(
            invoice,
            action="voided",
            new_status=InvoiceStatus.VOID,
            fields={"voided_at": timezone.now()},
            actor=actor_id,
            actor_label=actor_label,
        )
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        _transaction_move(tx, MarketplaceTransaction.Status.CANCELLED)
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_cancel_on_void

            # Its open payment intent is cancelled (outbox, then a worker) once this void commits.
            invoice_payment_cancel_on_void(invoice_kind="marketplace", invoice_id=invoice.pk, using=DB)
    return invoice


def marketplace_invoice_refund(
    *,
    invoice_id: int,
    amount_cents: int,
    expected_version: int | None = None,
    refunded_total_cents: int | None = None,
    actor_id: int | None = None,
    stripe_refund_id: str | None = None,
) -> MarketplaceInvoice:
    """Partial or full refund of a paid invoice; the transaction's refunded amount moves with it.

    `refunded_total_cents` (the Stripe webhook: the processor's cumulative total, `amount_refunded`)
    records only what the invoice lacks, computed under its row lock, so a refund recorded meanwhile
    (the provider's own, through the API) is never counted twice; nothing missing changes nothing.
    `stripe_refund_id` (a card refund): recorded once per refund id (marketplace_app/invoice_refunds.py).
    """
    from marketplace_app.invoice_refunds import refund_already_recorded, refund_record

    check_amount("amount_cents", amount_cents, allow_zero=False)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if stripe_refund_id and refund_already_recorded(invoice=invoice, stripe_refund_id=stripe_refund_id, using=DB):
            return invoice
        _check_version(invoice, expected_version)
        if refunded_total_cents is not None:
            amount_cents = refunded_total_cents - invoice.refunded_cents
            if amount_cents <= 0:
                return invoice
        refunded = invoice.refunded_cents + amount_cents
        if refunded > invoice.total_cents:
            raise ValidationFailed(
                f"Refund of {amount_cents} exceeds what is left to refund ({invoice.total_cents - invoice.refunded_cents}).",
                field_errors={"amount_cents": ["Too large."]},
            )
        target = InvoiceStatus.REFUNDED if refunded == invoice.total_cents else InvoiceStatus.PARTIALLY_REFUNDED
        _change(
            invoice,
            action="refunded",
            new_status=target,
            fields={"refunded_cents": refunded},
            actor=actor_id,
            actor_label="stripe" if refunded_total_cents is not None else "",
            metadata={"amount_cents": amount_cents},
        )
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        # The transaction carries the service amount, the invoice may add tax: the transaction is
        # refunded in full with the invoice, and never beyond its own amount before that.
        remaining = tx.amount_cents - tx.refunded_cents
        tx_refund = remaining if target == InvoiceStatus.REFUNDED else min(amount_cents, remaining)
        if tx_refund > 0:
            _transaction_refund_locked(tx, tx_refund)
        if stripe_refund_id:
            refund_record(invoice=invoice, stripe_refund_id=stripe_refund_id, amount_cents=amount_cents, using=DB)
    return invoice
