"""Invoices: what the fake makes of POST /v1/invoices (finalize, void and pay are `FakeStripe._action`)."""

from __future__ import annotations

from tests.fakes.stripe_server.wire import new_id


class Invoices:
    """Invoices: a part of `FakeStripe` (server.py), on its `objects`."""

    def _new_invoice(self, params: dict, now: int) -> dict:
        """POST /v1/invoices: a draft invoice."""
        obj = {
            "id": new_id("in"),
            "object": "invoice",
            "status": "draft",
            "created": now,
            "currency": params.get("currency", "usd"),
            "amount_due": int(params.get("amount_due", 0) or 0),
            "amount_paid": 0,
            "customer": params.get("customer"),
            "metadata": params.get("metadata", {}),
            "application_fee_amount": int(params.get("application_fee_amount", 0) or 0),
        }
        return obj
