"""Connect accounts and account links: creation, onboarding as the account holder finishes it, `account.updated`."""

from __future__ import annotations

import json

from tests.fakes.stripe_server.events import stripe_event
from tests.fakes.stripe_server.wire import new_id


class Accounts:
    """Connect accounts and their links: a part of `FakeStripe` (server.py), on its `objects`."""

    def add_account(self, **fields) -> dict:
        account = {
            "id": new_id("acct"),
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {"disabled_reason": None},
            **fields,
        }
        self.objects["accounts"][account["id"]] = account
        return account

    #: What a new Express account still owes before it may take charges (a subset of Stripe's list).
    NEW_ACCOUNT_REQUIREMENTS = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]

    def _new_account(self, params: dict, now: int) -> dict:
        capabilities = {
            name: "inactive"
            for name, wanted in (params.get("capabilities") or {}).items()
            if str((wanted or {}).get("requested")).lower() == "true"
        }
        due = list(self.NEW_ACCOUNT_REQUIREMENTS)
        return {
            "id": new_id("acct"),
            "object": "account",
            "type": params.get("type", "standard"),
            "country": params.get("country", "US"),
            "email": params.get("email"),
            "default_currency": "usd",
            "created": now,
            "metadata": params.get("metadata", {}),
            "business_profile": params.get("business_profile", {}),
            "capabilities": capabilities,
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {
                "currently_due": due,
                "eventually_due": list(due),
                "past_due": list(due),
                "pending_verification": [],
                "errors": [],
                "current_deadline": None,
                "disabled_reason": "requirements.past_due",
            },
        }

    def _account_link_refusal(self, params: dict) -> dict | None:
        """Stripe's answer to an account link it will not make."""
        for name in ("account", "type"):
            if not params.get(name):
                return {"code": "parameter_missing", "param": name, "message": f"Missing required param: {name}."}
        if params["account"] not in self.objects["accounts"]:
            return {
                "code": "resource_missing",
                "param": "account",
                "message": f"No such account: '{params['account']}'",
            }
        if params["type"] not in {"account_onboarding", "account_update"}:
            return {
                "code": "parameter_invalid_string",
                "param": "type",
                "message": "Invalid type: must be one of account_onboarding or account_update",
            }
        if params["type"] == "account_onboarding":
            for name in ("refresh_url", "return_url"):
                if not params.get(name):
                    return {"code": "parameter_missing", "param": name, "message": f"Missing required param: {name}."}
        return None

    def _new_account_link(self, params: dict, now: int) -> dict:
        """POST /v1/account_links: kept by its url (with what it was made with), never read back."""
        obj = {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"https://connect.stripe.com/setup/e/{params['account']}/{new_id('link')}",
        }
        self.objects["account_links"][obj["url"]] = {
            **obj,
            "account": params["account"],
            "type": params["type"],
            "refresh_url": params["refresh_url"],
            "return_url": params["return_url"],
        }
        return obj

    # --- what the account holder does -------------------------------------------------------------
    def links_of(self, account_id: str) -> list[dict]:
        """The account links made for an account, oldest first, with what they were made with."""
        return [link for link in self.objects["account_links"].values() if link["account"] == account_id]

    def complete_onboarding(
        self,
        account_id: str,
        *,
        charges: bool = True,
        payouts: bool = True,
        currently_due: list[str] | None = None,
        past_due: list[str] | None = None,
        disabled_reason: str | None = None,
    ) -> dict:
        """The account holder finishes (or half-finishes) the hosted onboarding. Returns the account."""
        account = self.objects["accounts"][account_id]
        currently_due = list(currently_due or [])
        account.update(charges_enabled=charges, payouts_enabled=payouts, details_submitted=True)
        account["capabilities"] = {
            name: "active" if charges else "inactive" for name in account.get("capabilities", {})
        }
        account["requirements"] = {
            **account.get("requirements", {}),
            "currently_due": currently_due,
            "eventually_due": list(currently_due),
            "past_due": list(past_due or []),
            "disabled_reason": disabled_reason,
        }
        return account

    def account_updated(self, account_id: str, *, created: int | None = None) -> dict:
        """The `account.updated` event Stripe sends about the account as it is now (deliver it with
        `signed_delivery`)."""
        return stripe_event(
            "account.updated",
            json.loads(json.dumps(self.objects["accounts"][account_id])),
            created=created,
            account=account_id,
        )
