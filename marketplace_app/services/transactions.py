"""Marketplace transaction writes: create, invoice, pay, cancel, dispute, refund."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from breederhq.errors import Conflict, IllegalTransition, ValidationFailed
from breederhq.invoicing.status import InvoiceStatus
from breederhq.money import check_amount
from breederhq.outbox import outbox_enqueue
from marketplace_app.models import (
    TRANSACTION_STATES,
    MarketplaceInvoice,
    MarketplaceTransaction,
    Provider,
    ServiceListing,
)
from marketplace_app.provider_suspension import require_not_suspended
from marketplace_app.services.common import (
    _REVENUE_STATES,
    DB,
    _bump_provider_stats,
    _get_locked,
    _live_provider,
    _refuse_if_blocked,
    _require_live_user,
    _touch_contact,
    _transaction_counts,
    _transaction_revenue,
)


def transaction_create(
    *,
    provider_id: int,
    client_id: int,
    listing_id: int | None = None,
    amount_cents: int | None = None,
    description: str = "",
) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        # Locked now because the counters below update this row anyway (see _refuse_if_blocked).
        provider = _live_provider(provider_id, lock=True)
        require_not_suspended(provider.pk)
        _require_live_user(client_id)
        _refuse_if_blocked(provider_id=provider.pk, user_id=client_id, action="buy from them", provider_locked=True)
        if provider.user_id == client_id:
            raise ValidationFailed("A provider cannot buy from itself.")
        listing = None
        if listing_id is not None:
            listing = ServiceListing.objects.using(DB).filter(pk=listing_id, provider_id=provider.pk).first()
            if listing is None or listing.status != ServiceListing.Status.ACTIVE:
                raise ValidationFailed(
                    "That listing is not on sale from this provider.", field_errors={"listing_id": ["Not available."]}
                )
            if amount_cents is None:
                amount_cents = listing.price_cents
            description = description or listing.title
        check_amount("amount_cents", amount_cents, currency=provider.currency)
        tx = MarketplaceTransaction.objects.using(DB).create(
            provider=provider,
            client_id=client_id,
            listing=listing,
            amount_cents=amount_cents,
            currency=provider.currency,
            description=description,
        )
        _bump_provider_stats(provider.pk, transactions=1)
        _touch_contact(provider_id=provider.pk, user_id=client_id)
    return tx


def _transaction_move(
    tx: MarketplaceTransaction, target: str, *, refunded_cents: int | None = None, partial_refund: bool = False
) -> None:
    """Apply a checked transition (tx is locked) and move the provider's stats by the difference."""
    if not (partial_refund and target == tx.status):  # a partial refund only moves the amount
        TRANSACTION_STATES.check(tx.status, target)
    count_before = _transaction_counts(tx.status)
    revenue_before = _transaction_revenue(tx.status, tx.amount_cents, tx.refunded_cents)
    now = timezone.now()
    tx.status = target
    fields = ["status", "updated_at"]
    if refunded_cents is not None:
        tx.refunded_cents = refunded_cents
        fields.append("refunded_cents")
    if target == MarketplaceTransaction.Status.PAID and tx.paid_at is None:
        tx.paid_at = now
        fields.append("paid_at")
    if target == MarketplaceTransaction.Status.CANCELLED:
        tx.cancelled_at = now
        fields.append("cancelled_at")
    tx.save(using=DB, update_fields=fields)
    _bump_provider_stats(
        tx.provider_id,
        transactions=_transaction_counts(target) - count_before,
        revenue_cents=_transaction_revenue(target, tx.amount_cents, tx.refunded_cents) - revenue_before,
    )


def transaction_attach_invoice(*, transaction_id: int, invoice_type: str, invoice_id: int) -> MarketplaceTransaction:
    """pending_invoice -> invoiced, pointing at exactly one invoice (single invoice strategy).

    Breeders are billed with tenant invoices, service providers with marketplace invoices.
    """
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _attach_invoice_locked(tx, invoice_type=invoice_type, invoice_id=invoice_id)
    return tx


def _attach_invoice_locked(tx: MarketplaceTransaction, *, invoice_type: str, invoice_id: int) -> None:
    provider_kind = Provider.all_objects.using(DB).values_list("kind", flat=True).get(pk=tx.provider_id)
    expected = "tenant" if provider_kind == Provider.Kind.BREEDER else "marketplace"
    if invoice_type != expected:
        raise ValidationFailed(
            f"A {provider_kind} bills with a {expected} invoice, not a {invoice_type} one.",
            field_errors={"invoice_type": [f"Must be '{expected}'."]},
        )
    if tx.invoice_id is not None:
        raise Conflict(
            f"Transaction #{tx.pk} already has a {tx.invoice_type} invoice #{tx.invoice_id}.", code="already_invoiced"
        )
    TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.INVOICED)
    tx.invoice_type, tx.invoice_id = invoice_type, invoice_id
    tx.status = MarketplaceTransaction.Status.INVOICED
    tx.save(using=DB, update_fields=["invoice_type", "invoice_id", "status", "updated_at"])


def transaction_mark_paid(*, transaction_id: int) -> MarketplaceTransaction:
    """Idempotent: a transaction already paid (or past paid) is returned unchanged."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if tx.status in _REVENUE_STATES:
            return tx
        _transaction_move(tx, MarketplaceTransaction.Status.PAID)
    return tx


def transaction_cancel(*, transaction_id: int) -> MarketplaceTransaction:
    """Cancel; a breeder's tenant invoice for it is voided (if still unpaid) through the outbox.

    A sale billed with a marketplace invoice that is still live (anything but void) is refused with
    409 `void_the_invoice`: cancelling the sale alone would leave that invoice payable, and voiding
    the invoice cancels the sale with it (`marketplace_invoice_void`). Checked here, under the
    transaction's lock, so the API, the back office and tasks all get the rule."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.CANCELLED)  # a paid sale: illegal_transition
        if tx.invoice_type == MarketplaceTransaction.InvoiceType.MARKETPLACE:
            # Read, not locked: invoice services lock the invoice before the transaction, and `void`
            # is final, so a status read after taking the transaction's lock cannot go stale into a
            # wrong "yes".
            invoice_status = (
                MarketplaceInvoice.objects.using(DB).filter(pk=tx.invoice_id).values_list("status", flat=True).first()
            )
            if invoice_status is not None and invoice_status != InvoiceStatus.VOID:
                raise Conflict(
                    f"Transaction #{tx.pk} is billed by marketplace invoice #{tx.invoice_id} ({invoice_status}): "
                    f"void the invoice instead, which cancels the sale with it.",
                    code="void_the_invoice",
                    extra={"invoice_id": tx.invoice_id, "invoice_status": invoice_status},
                )
        _transaction_move(tx, MarketplaceTransaction.Status.CANCELLED)
        if tx.invoice_type == MarketplaceTransaction.InvoiceType.TENANT:
            tenant_id = Provider.all_objects.using(DB).values_list("tenant_id", flat=True).get(pk=tx.provider_id)
            outbox_enqueue(
                using=DB,
                topic="marketplace.transaction_cancelled",
                payload={"transaction_id": tx.pk, "invoice_id": tx.invoice_id, "tenant_id": tenant_id},
            )
    return tx


def transaction_dispute(*, transaction_id: int) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _transaction_move(tx, MarketplaceTransaction.Status.DISPUTED)
    return tx


def transaction_resolve_dispute(*, transaction_id: int, won: bool) -> MarketplaceTransaction:
    """Won: back to paid. Lost: fully refunded."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if tx.status != MarketplaceTransaction.Status.DISPUTED:
            raise IllegalTransition(
                entity="MarketplaceTransaction",
                current=tx.status,
                target="paid" if won else "refunded",
                allowed=list(TRANSACTION_STATES.allowed_from(tx.status)),
            )
        if won:
            _transaction_move(tx, MarketplaceTransaction.Status.PAID)
        else:
            _transaction_move(tx, MarketplaceTransaction.Status.REFUNDED, refunded_cents=tx.amount_cents)
    return tx


def transaction_refund(*, transaction_id: int, amount_cents: int) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _transaction_refund_locked(tx, amount_cents)
    return tx


def transaction_refund_to(*, transaction_id: int, refunded_cents: int) -> MarketplaceTransaction:
    """Bring the refunded total up to `refunded_cents` (the billing invoice's); never down."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if refunded_cents > tx.refunded_cents:
            _transaction_refund_locked(tx, refunded_cents - tx.refunded_cents)
    return tx


def _transaction_refund_locked(tx: MarketplaceTransaction, amount_cents: int) -> None:
    check_amount("amount_cents", amount_cents, allow_zero=False, currency=tx.currency)
    if tx.status not in {MarketplaceTransaction.Status.PAID, MarketplaceTransaction.Status.DISPUTED}:
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.REFUNDED)
    refunded = tx.refunded_cents + amount_cents
    if refunded > tx.amount_cents:
        raise ValidationFailed(
            f"Refund of {amount_cents} exceeds what is left to refund ({tx.amount_cents - tx.refunded_cents}).",
            field_errors={"amount_cents": ["Too large."]},
        )
    target = MarketplaceTransaction.Status.REFUNDED if refunded == tx.amount_cents else tx.status
    _transaction_move(tx, target, refunded_cents=refunded, partial_refund=True)
