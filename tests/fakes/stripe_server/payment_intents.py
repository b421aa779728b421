"""PaymentIntents: what Stripe refuses, creates and lets change, and what the buyer does to them."""

from __future__ import annotations

import secrets

from tests.fakes.stripe_server.currencies import amount_refusal
from tests.fakes.stripe_server.wire import new_id


def intent_refusal(params: dict) -> dict | None:
    currency = str(params.get("currency", ""))
    if currency != currency.lower() or not currency:
        return {"param": "currency", "code": "parameter_invalid_string", "message": f"Invalid currency: {currency}."}
    refused = amount_refusal(currency, params.get("amount"))
    if refused is None and params.get("application_fee_amount") not in (None, ""):
        refused = amount_refusal(
            currency, params["application_fee_amount"], param="application_fee_amount", charge=False
        )
        if refused is None and int(params["application_fee_amount"]) > int(params["amount"]):
            refused = {
                "param": "application_fee_amount",
                "code": "parameter_invalid_integer",
                "message": "The application fee cannot be larger than the amount.",
            }
    return refused


class PaymentIntents:
    """PaymentIntents: a part of `FakeStripe` (server.py), on its `objects`."""

    #: PaymentIntent statuses in which Stripe still lets the amount change.
    INTENT_UPDATABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})

    def _update_intent(self, intent: dict, params: dict) -> tuple[int, dict]:
        """POST /v1/payment_intents/{id}: amounts are integers, and only an intent the buyer has not
        paid (or started paying) may change its amount."""
        if {"amount", "application_fee_amount"} & params.keys() and intent["status"] not in self.INTENT_UPDATABLE:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": f"This PaymentIntent's amount could not be updated because it has a "
                    f"status of {intent['status']}.",
                }
            }
        for name in ("amount", "application_fee_amount"):
            if name in params:
                if not str(params[name]).isdigit():
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "parameter_invalid_integer",
                            "param": name,
                            "message": f"Invalid integer: {params[name]}",
                        }
                    }
                intent[name] = int(params[name])
        for name, value in params.items():
            if name not in ("amount", "application_fee_amount"):
                intent[name] = value
        return 200, intent

    def _new_intent(self, params: dict, now: int) -> dict:
        """POST /v1/payment_intents: an intent awaiting the buyer's payment method."""
        obj = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "status": "requires_payment_method",
            "amount": int(params.get("amount", 0)),
            "currency": params.get("currency", "usd"),
            "amount_received": 0,
            "created": now,
            "metadata": params.get("metadata", {}),
            "description": params.get("description"),
            "latest_charge": None,
            "application_fee_amount": int(params.get("application_fee_amount", 0) or 0),
            "transfer_data": params.get("transfer_data"),
        }
        # Stripe's format: the intent's id, "_secret_", then a random part.
        obj["client_secret"] = f"{obj['id']}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"
        return obj

    # --- what the buyer does ---------------------------------------------------------------------
    def succeed_intent(self, intent_id: str, *, amount_received: int | None = None) -> dict:
        """The buyer pays: the intent succeeds with a charge. Returns the intent."""
        intent = self.objects["payment_intents"][intent_id]
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"] if amount_received is None else amount_received
        intent["latest_charge"] = intent.get("latest_charge") or new_id("ch")
        return intent

    def start_processing(self, intent_id: str) -> dict:
        """The buyer's payment is under way (a bank debit): Stripe will not cancel the intent now."""
        intent = self.objects["payment_intents"][intent_id]
        intent["status"] = "processing"
        return intent
