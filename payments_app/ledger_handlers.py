"""Webhook handlers (and helpers of existing ones) that feed the money-movement ledger with what a
connected account's owner sees besides fees, transfers and payouts: the buyer's payment (the charge)
and refunds. Registered in payments_app/webhook_handlers.py's table through `@handles`.

Every entry is about a connected account: the charge's destination (`transfer_data.destination`),
else the account our payment row was opened for. An object of no account of ours is not recorded.
"""

from __future__ import annotations

from payments_app.access import locate
from payments_app.ledger import movement_account_of_charge, object_time, record_movement
from payments_app.models import ConnectMoneyMovement, InvoicePayment, StripeWebhookEvent
from payments_app.webhook_handlers import handles, money

Kind = ConnectMoneyMovement.Kind


def record_charge_payment(
    event: StripeWebhookEvent, data: dict, *, payment: InvoicePayment | None, account: str
) -> None:
    """The buyer's payment of a destination charge (`charge.succeeded`), once per charge id."""
    if not account:
        return
    record_movement(
        kind=Kind.PAYMENT,
        object_id=data["id"],
        event=event,
        amount=money(data, "amount", required=True),
        currency=data.get("currency") or (payment.currency if payment else "usd"),
        status=data.get("status") or "succeeded",
        occurred_at=object_time(data, event),
        payment=payment,
        account=account,
        charge=data["id"],
    )


def _refund_account(refund: dict, *, charge_id: str) -> tuple[str, InvoicePayment | None]:
    """(connected account, our payment row) a refund belongs to: from the payment row of its
    payment intent, else from the ledger's entries of its charge."""
    payment = None
    if refund.get("payment_intent"):
        payment = locate(InvoicePayment, job="stripe_webhook:refund", stripe_payment_intent_id=refund["payment_intent"])
    account = payment.connect_account_id if payment is not None else ""
    return account or movement_account_of_charge(charge_id), payment


def _record_refund(event: StripeWebhookEvent, refund: dict, *, charge_id: str = "") -> str:
    charge_id = refund.get("charge") or charge_id
    account, payment = _refund_account(refund, charge_id=charge_id)
    if not account:
        return f"refund {refund['id']}: ignored, not about a connected account of ours"
    _, new = record_movement(
        kind=Kind.REFUND,
        object_id=refund["id"],
        event=event,
        amount=money(refund, "amount", required=True),
        currency=refund.get("currency") or (payment.currency if payment else "usd"),
        status=refund.get("status") or "",
        occurred_at=object_time(refund, event),
        payment=payment,
        account=account,
        charge=charge_id,
    )
    return f"refund {refund['id']} {'recorded' if new else 'already recorded'}"


def record_charge_refunds(event: StripeWebhookEvent, charge: dict) -> list[str]:
    """The refunds a `charge.refunded` event lists on its charge (`refunds.data`), in the ledger."""
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    return [
        _record_refund(event, refund, charge_id=charge.get("id") or "")
        for refund in refunds
        if isinstance(refund, dict) and refund.get("id")
    ]


@handles("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
def refund_event(event: StripeWebhookEvent) -> str:
    """A refund told on its own (newer API versions send these besides `charge.refunded`): the
    ledger's entry, and the request it answers finished if a crash left it unrecorded
    (payments_app/refund_completion.py). What the invoice records is otherwise `charge.refunded`'s
    business (its cumulative amount), so a refund is never recorded on the invoice twice."""
    from payments_app.refund_completion import refund_event_complete

    refund = event.payload["data"]["object"]
    entry = _record_refund(event, refund)
    return f"{entry}; {refund_event_complete(refund)}"
