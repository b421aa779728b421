"""Charges and the money they move on Connect: transfers, application fees, payouts (as events carry them)."""

from __future__ import annotations

import time

from tests.fakes.stripe_server.wire import new_id


class Charges:
    """Charges, transfers, application fees and payouts: a part of `FakeStripe` (server.py), on its `objects`."""

    def charge_of(self, intent_id: str, *, amount_refunded: int | None = None) -> dict:
        """The charge object of a succeeded intent, as `charge.*` events carry it; `amount_refunded`
        is what refunds through this fake added up to unless given."""
        intent = self.objects["payment_intents"][intent_id]
        if amount_refunded is None:
            amount_refunded = intent.get("_amount_refunded", 0)
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount_received"],
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= intent["amount_received"],
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "metadata": dict(intent["metadata"]),
        }

    def succeeded_charge_of(self, intent_id: str) -> dict:
        """The charge of a succeeded destination-charge intent, as `charge.succeeded` carries it: its
        application fee (fee_...) and its transfer (tr_...) to the connected account."""
        intent = self.objects["payment_intents"][intent_id]
        intent.setdefault("_fee_id", new_id("fee"))
        intent.setdefault("_transfer_id", new_id("tr"))
        destination = (intent.get("transfer_data") or {}).get("destination")
        return {
            **self.charge_of(intent_id),
            "paid": True,
            "status": "succeeded",
            "application_fee": intent["_fee_id"],
            "application_fee_amount": intent["application_fee_amount"],
            "transfer": intent["_transfer_id"],
            "transfer_data": {"destination": destination},
            "on_behalf_of": None,
        }

    def transfer_of(self, intent_id: str, *, reversed: bool = False) -> dict:
        intent = self.objects["payment_intents"][intent_id]
        charge = self.succeeded_charge_of(intent_id)
        return {
            "id": intent["_transfer_id"],
            "object": "transfer",
            "amount": intent["amount_received"] - intent["application_fee_amount"],
            "currency": intent["currency"],
            "destination": charge["transfer_data"]["destination"],
            "source_transaction": charge["id"],
            "reversed": reversed,
            "metadata": {},
        }

    def application_fee_of(self, intent_id: str) -> dict:
        """The platform's application fee on a succeeded destination charge, as `application_fee.created`
        carries it (`account`: the connected account the charge went to)."""
        intent = self.objects["payment_intents"][intent_id]
        charge = self.succeeded_charge_of(intent_id)
        return {
            "id": intent["_fee_id"],
            "object": "application_fee",
            "amount": intent["application_fee_amount"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": intent["currency"],
            "charge": charge["id"],
            "account": charge["transfer_data"]["destination"],
            "created": int(time.time()),
        }

    def payout(self, *, amount: int, status: str = "paid", payout_id: str | None = None) -> dict:
        """A connected account's payout to its bank (events about it carry `account`)."""
        return {
            "id": payout_id or new_id("po"),
            "object": "payout",
            "amount": amount,
            "currency": "usd",
            "status": status,
            "arrival_date": int(time.time()),
            "method": "standard",
            "metadata": {},
        }
