"""Refunds: what Stripe refuses, what a refund through the API does, and refunds made in the dashboard."""

from __future__ import annotations

import time

from tests.fakes.stripe_server.currencies import amount_refusal
from tests.fakes.stripe_server.wire import new_id


class Refunds:
    """Refunds: a part of `FakeStripe` (server.py), on its `objects`."""

    def _refund_refusal(self, params: dict) -> dict | None:
        """Stripe's answer to a refund it will not make: an intent without a successful charge, or
        more than what is left unrefunded on the charge."""
        intent = self.objects["payment_intents"].get(params.get("payment_intent") or "")
        if intent is None:
            return {
                "code": "resource_missing",
                "param": "payment_intent",
                "message": f"No such payment_intent: '{params.get('payment_intent')}'",
            }
        if intent["status"] != "succeeded":
            return {
                "code": "charge_not_refundable",
                "message": f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            }
        left = intent["amount_received"] - intent.get("_amount_refunded", 0)
        if left <= 0:
            return {
                "code": "charge_already_refunded",
                "message": f"Charge {intent['latest_charge']} has already been refunded.",
            }
        if params.get("amount") and (refused := amount_refusal(intent["currency"], params["amount"], charge=False)):
            return refused
        if params.get("amount") and int(params["amount"]) > left:
            return {
                "code": "amount_too_large",
                "param": "amount",
                "message": f"Refund amount ({params['amount']}) is greater than unrefunded amount on charge ({left})",
            }
        return None

    def _new_refund(self, params: dict, now: int) -> dict:
        """POST /v1/refunds: the whole unrefunded amount unless `amount` says less."""
        intent = self.objects["payment_intents"][params["payment_intent"]]
        amount = (
            int(params["amount"])
            if params.get("amount")
            else intent["amount_received"] - intent.get("_amount_refunded", 0)
        )
        intent["_amount_refunded"] = intent.get("_amount_refunded", 0) + amount
        obj = {
            "id": new_id("re"),
            "object": "refund",
            "status": "succeeded",
            "created": now,
            "amount": amount,
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "currency": intent["currency"],
            "metadata": params.get("metadata", {}),
            "reason": None,
        }
        return obj

    def refunded_charge_of(self, intent_id: str) -> dict:
        """The charge after refunds made through this fake, as `charge.refunded` carries it: the
        cumulative `amount_refunded` and the refunds in `refunds.data`, newest first."""
        refunds = sorted(
            (dict(r) for r in self.objects["refunds"].values() if r.get("payment_intent") == intent_id),
            key=lambda r: (r["created"], r["id"]),
            reverse=True,
        )
        return {
            **self.succeeded_charge_of(intent_id),
            "refunds": {"object": "list", "data": refunds, "has_more": False},
        }

    def refund_of(
        self, intent_id: str, *, amount: int, refund_id: str | None = None, status: str = "succeeded"
    ) -> dict:
        """A refund of the intent's charge made in Stripe (the dashboard), as `refund.*` events carry it."""
        intent = self.objects["payment_intents"][intent_id]
        refund = {
            "id": refund_id or new_id("re"),
            "object": "refund",
            "amount": amount,
            "status": status,
            "currency": intent["currency"],
            "charge": intent["latest_charge"],
            "payment_intent": intent_id,
            "created": int(time.time()),
            "metadata": {},
            "reason": None,
        }
        self.objects["refunds"][refund["id"]] = refund
        return dict(refund)
