"""What each Stripe event type does. One function per type, registered with `@handles`.

A handler runs inside the processing transaction (tenant database) with the event row locked; it
returns a short outcome for support staff. It must be safe to run again for the same event (the
inbox makes that rare, not impossible) and must never move state backwards for a late event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from payments_app.models import StripeConnectAccount, StripeWebhookEvent

Handler = Callable[[StripeWebhookEvent], str]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str):
    def register(function: Handler) -> Handler:
        for event_type in event_types:
            HANDLERS[event_type] = function
        return function

    return register


def _account_status(account: dict) -> str:
    if account.get("requirements", {}).get("disabled_reason"):
        return StripeConnectAccount.Status.DISABLED
    if account.get("charges_enabled") and account.get("payouts_enabled"):
        return StripeConnectAccount.Status.ENABLED
    if account.get("details_submitted"):
        return StripeConnectAccount.Status.RESTRICTED
    return StripeConnectAccount.Status.PENDING


@handles("account.updated")
def account_updated(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    account = (
        StripeConnectAccount.objects.using("default").select_for_update()
        .filter(stripe_account_id=data["id"]).first()
    )
    if account is None:
        return f"ignored: no local account {data['id']}"
    created: datetime = event.stripe_created
    if account.last_event_created and created < account.last_event_created:
        return "ignored: older than the last applied account.updated"
    account.charges_enabled = bool(data.get("charges_enabled"))
    account.payouts_enabled = bool(data.get("payouts_enabled"))
    account.details_submitted = bool(data.get("details_submitted"))
    account.disabled_reason = (data.get("requirements") or {}).get("disabled_reason") or ""
    account.status = _account_status(data)
    account.last_event_created = created
    account.save(using="default")
    return f"account {account.stripe_account_id} is {account.status}"
