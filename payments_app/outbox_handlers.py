"""Effects across databases of payment events, applied exactly once through the outbox.

A dispute arrives as a webhook (inbox, tenant DB); the marketplace transaction billed by the
disputed invoice moves in the marketplace DB. A marketplace invoice voided (marketplace DB) marks
its Stripe payment, in the tenant DB, for its intent to be cancelled.
"""

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.outbox import outbox_handler
from marketplace_app import services
from marketplace_app.models import MarketplaceTransaction

Status = MarketplaceTransaction.Status


class TransactionNotPaidYet(LookupError):
    """The dispute arrived before the transaction's own "paid" was applied: retried with backoff."""


def _transaction(payload: dict) -> MarketplaceTransaction:
    tx = (
        MarketplaceTransaction.objects.using(MARKETPLACE_DB)
        .select_for_update()
        .filter(invoice_type=payload["invoice_type"], invoice_id=payload["invoice_id"])
        .first()
    )
    if tx is None:
        raise TransactionNotPaidYet(f"no transaction bills {payload['invoice_type']} invoice #{payload['invoice_id']}")
    return tx


@outbox_handler("payments.dispute_opened", applies_in=MARKETPLACE_DB)
def dispute_opened(payload: dict) -> None:
    tx = _transaction(payload)
    if tx.status in {Status.DISPUTED, Status.REFUNDED}:
        return
    if tx.status != Status.PAID:
        raise TransactionNotPaidYet(f"transaction #{tx.pk} is {tx.status}")
    services.transaction_dispute(transaction_id=tx.pk)


@outbox_handler("payments.dispute_closed", applies_in=MARKETPLACE_DB)
def dispute_closed(payload: dict) -> None:
    tx = _transaction(payload)
    if tx.status == Status.DISPUTED:
        services.transaction_resolve_dispute(transaction_id=tx.pk, won=payload["won"])
    elif tx.status == Status.PAID and not payload["won"]:
        # The opening never got here first: a lost dispute still takes the money back.
        services.transaction_refund(transaction_id=tx.pk, amount_cents=tx.amount_cents - tx.refunded_cents)
    elif tx.status in {Status.PENDING_INVOICE, Status.INVOICED}:
        raise TransactionNotPaidYet(f"transaction #{tx.pk} is {tx.status}")


@outbox_handler("payments.cancel_intent", applies_in=TENANT_DB)
def cancel_intent(payload: dict) -> None:
    """A marketplace invoice was voided: mark its Stripe payment for cancelling (tenant database)."""
    from payments_app.intent_cancel import invoice_payment_cancel_requested

    invoice_payment_cancel_requested(invoice_kind=payload["invoice_kind"], invoice_id=payload["invoice_id"])


@outbox_handler("payments.record_fallback", applies_in=TENANT_DB)
def record_fallback(payload: dict) -> None:
    """A marketplace invoice fell back from Stripe to manual: its visible flag (tenant database).
    Idempotent: a second delivery finds the row."""
    from payments_app.collection import invoice_payment_record_fallback

    invoice_payment_record_fallback(**payload)


@outbox_handler("payments.open_intent", applies_in=TENANT_DB)
def open_intent(payload: dict) -> None:
    """A marketplace invoice was sent: write its "unopened" Stripe payment row (tenant database) and
    enqueue its opening once that commits; the sweep opens it if the enqueue is lost."""
    from payments_app.collection import invoice_payment_record_unopened

    invoice_payment_record_unopened(
        invoice_kind=payload["invoice_kind"], invoice_id=payload["invoice_id"], tenant_id=None
    )


@outbox_handler("payments.refund_recorded", applies_in=MARKETPLACE_DB)
def refund_recorded(payload: dict) -> None:
    """A card refund the tenant side recorded: the marketplace invoice gets it, once per Stripe
    refund id (payments_app/refund_completion.py)."""
    from payments_app.refund_completion import record_marketplace_refund

    record_marketplace_refund(payload)


@outbox_handler("marketplace.invoice_deleted", applies_in=TENANT_DB)
def invoice_deleted(payload: dict) -> None:
    """A (draft or void) marketplace invoice was soft-deleted: its Stripe payment row, if any, takes
    no payment (an unopened row is closed, an open intent cancelled; idempotent)."""
    from payments_app.intent_cancel import invoice_payment_cancel_requested

    invoice_payment_cancel_requested(invoice_kind="marketplace", invoice_id=payload["invoice_id"])
