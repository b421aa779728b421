"""Refunds through the channel that took the money, one behaviour for tenant and marketplace invoices.

- Keyed by the client's Idempotency-Key: one refund per key. Another key is another refund request,
  judged against what is still refundable (what was paid, minus what is recorded as refunded, minus
  what other requests are sending right now).
- Manual payment (cash, bank transfer, or a Stripe-mode invoice paid by hand): recorded as a manual
  refund; Stripe is not called.
- Card payment: a `RefundRequest` row is committed first (the reservation), then Stripe is called
  with no transaction open, under an idempotency key derived from that row; only once Stripe accepts
  is the refund recorded on the invoice (and the payment row). Stripe unreachable: 503, nothing
  recorded (the same key may be retried); Stripe refusing: 409, nothing recorded.
- Stripe's own `charge.refunded` notification waits while a request is pending (the webhook
  retries), so a refund asked for through the API and the one Stripe reports never count twice.
- A request left pending by a crash is finished by the client's retry with the same key, by the
  5-minute sweep (`invoice_refunds_resume`) or by Stripe's `refund.*` webhook: the same Stripe refund
  comes back and is recorded once. A marketplace invoice's record lives in the other database and
  is keyed by the Stripe refund id; a crash between the two databases is finished by the outbox
  (payments_app/refund_completion.py).

The code lives in `channel` (a refund asked for: reserve, send, record) and `recovery` (the
notification, duplicate collections, the sweep); the names callers use are re-exported here.
"""

from payments_app.refunds.channel import (
    Channel,
    RefundOutcome,
    Status,
    _record_sent,  # payments_app/refund_completion.py finishes an outbox-delivered record with it
    card_payment,
    invoice_refund_through_channel,
    refund_step,
    stripe_key,
)
from payments_app.refunds.recovery import (
    duplicate_collection_return,
    invoice_refund_resume,
    invoice_refunds_pending,
    refunded_for_the_invoice,
    refunds_in_flight,
)

__all__ = [
    "RefundOutcome",
    "card_payment",
    "duplicate_collection_return",
    "invoice_refund_resume",
    "invoice_refund_through_channel",
    "invoice_refunds_pending",
    "refunded_for_the_invoice",
    "refunds_in_flight",
]
