"""Events as Stripe sends them, and the signed webhook deliveries that carry them."""

from __future__ import annotations

import json
import time

import stripe

from tests.fakes.stripe_server.wire import new_id


def stripe_event(
    event_type: str,
    data_object: dict,
    *,
    created: int | None = None,
    account: str | None = None,
    event_id: str | None = None,
) -> dict:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": created if created is not None else int(time.time()),
        "type": event_type,
        "livemode": False,
        "account": account,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": data_object},
    }


def signed_delivery(event: dict, secret: str, *, timestamp: int | None = None) -> tuple[bytes, str]:
    """The exact bytes Stripe would POST and their `Stripe-Signature` header."""
    body = json.dumps(event, separators=(",", ":"))
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), header
