"""The payments entry points most callers use, gathered in one place. Each lives in its own module:

- payments_app/inbox.py: the Stripe webhook inbox, receiving side (verify, check, store);
- payments_app/inbox_processing.py: applying stored events (claim, handler, retry, dead letter, requeue);
- payments_app/collection.py: collecting invoices (fallback to manual, the "unopened" row at send,
  opening the payment intent, the sweep's list);
- payments_app/intent_cancel.py: closing an invoice's card payment (void, payment by hand).

New code imports from those modules; nothing is defined here.
"""

from __future__ import annotations

from breederhq.errors import DomainError
from payments_app.collection import (
    invoice_facts,
    invoice_payment_note_open_failure,
    invoice_payment_open,
    invoice_payment_open_on_commit,
    invoice_payment_record_fallback,
    invoice_payment_record_unopened,
    invoice_payments_unopened,
)
from payments_app.inbox import INVALID_EVENT_OUTCOME, ReceivedEvent, WebhookSignatureInvalid, stripe_event_receive
from payments_app.inbox_processing import retry_delay, stripe_event_process, stripe_event_requeue, stripe_events_due
from payments_app.intent_cancel import (
    PaymentIntentBusy,
    invoice_payment_cancel,
    invoice_payment_cancel_on_void,
    invoice_payment_cancel_requested,
    invoice_payment_close_for_manual,
    invoice_payments_cancel_pending,
)
from payments_app.stripe_gateway import StripeUnavailable

__all__ = [
    "INVALID_EVENT_OUTCOME",
    "DomainError",
    "PaymentIntentBusy",
    "ReceivedEvent",
    "StripeUnavailable",
    "WebhookSignatureInvalid",
    "invoice_facts",
    "invoice_payment_cancel",
    "invoice_payment_cancel_on_void",
    "invoice_payment_cancel_requested",
    "invoice_payment_close_for_manual",
    "invoice_payment_note_open_failure",
    "invoice_payment_open",
    "invoice_payment_open_on_commit",
    "invoice_payment_record_fallback",
    "invoice_payment_record_unopened",
    "invoice_payments_cancel_pending",
    "invoice_payments_unopened",
    "retry_delay",
    "stripe_event_process",
    "stripe_event_receive",
    "stripe_event_requeue",
    "stripe_events_due",
]
