"""A local fake of the Stripe API that the official SDK talks to over real HTTP.

Point the SDK at it with `STRIPE_API_BASE` (the gateway reads it). It keeps objects in memory,
answers with payloads shaped like Stripe's, replays the first response for a repeated
`Idempotency-Key` as Stripe does (the same key with other parameters is a 400 `idempotency_error`;
the same key while its first request is still being carried out is a 409 `idempotency_key_in_use`),
and can be told to fail (5xx) or stall (timeouts) on the next requests. `signed_delivery()` builds
webhook deliveries with real HMAC signatures; `account_updated()` is the `account.updated` event of
an account as the fake holds it (after `complete_onboarding()`, say).

One module per Stripe resource: server.py (HTTP, idempotency, failures, routing), accounts.py
(accounts and account links), payment_intents.py, charges.py (charges, transfers, fees, payouts),
refunds.py, disputes.py (disputes and evidence files), invoices.py, events.py (events and signed
deliveries), currencies.py (Stripe's amount rules) and wire.py (ids, form and multipart bodies).
Tests import from this package.
"""

from tests.fakes.stripe_server.currencies import (
    MAXIMUM_CHARGE,
    MINIMUM_CHARGE,
    THREE_DECIMAL,
    TWO_DECIMAL,
    ZERO_DECIMAL,
    amount_refusal,
)
from tests.fakes.stripe_server.disputes import FILE_EVIDENCE_FIELDS
from tests.fakes.stripe_server.events import signed_delivery, stripe_event
from tests.fakes.stripe_server.payment_intents import intent_refusal
from tests.fakes.stripe_server.server import FakeStripe
from tests.fakes.stripe_server.wire import new_id

__all__ = [
    "FILE_EVIDENCE_FIELDS",
    "MAXIMUM_CHARGE",
    "MINIMUM_CHARGE",
    "THREE_DECIMAL",
    "TWO_DECIMAL",
    "ZERO_DECIMAL",
    "FakeStripe",
    "amount_refusal",
    "intent_refusal",
    "new_id",
    "signed_delivery",
    "stripe_event",
]
