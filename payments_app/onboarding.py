"""Stripe Connect onboarding: a breeder (tenant) or a service provider gets its connected account and
a hosted onboarding link; its state is kept from `account.updated` events.

Account type: **Express**. We take payments as destination charges (the platform creates the payment
intent with `application_fee_amount` and `transfer_data[destination]`, payments_app/providers.py).
With destination charges the platform is the merchant of record and carries refunds, disputes and
fraud; Stripe's Express accounts are made for exactly that: Stripe hosts the onboarding and the
identity checks, the account holder gets a light dashboard for payouts, and the platform keeps
control of charges and fees. Standard accounts are meant for direct charges (the connected account
is the merchant and owns its disputes) and would fight the fee model; Custom accounts would make us
build the onboarding and the compliance screens ourselves.

One account per owner, however many requests race to create it:
- the Stripe call carries our idempotency key derived from the owner (and the country, which fixes
  the account for good), so simultaneous or retried calls get the one account back from Stripe
  (a call made while the first is still running gets 409 `idempotency_key_in_use` from Stripe and
  is retried after a short wait, when the first answer is there to be replayed);
- the row is inserted under the unique constraints on `owner_tenant`, `provider_id` and
  `stripe_account_id`: a second insert fails and the loser reads the winner's row.
No database transaction is open during a Stripe call (payments_app/stripe_gateway.py).

Stripe keeps idempotency keys for 24 hours: a row lost after the account was made (a crash between
the call and the insert) and retried later than that would make a second account; support then
links the right one in the back office.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict, Unavailable
from breederhq.tenancy import owner_context
from payments_app.models import StripeConnectAccount
from payments_app.stripe_gateway import StripeUnavailable, call_stripe, idempotency_key, stripe_client

logger = logging.getLogger(__name__)

DB = TENANT_DB
ACCOUNT_TYPE = "express"
#: Retries of an account creation Stripe says is still in progress under the same key.
IN_PROGRESS_RETRIES = 20
IN_PROGRESS_WAIT_SECONDS = 0.25

Status = StripeConnectAccount.Status
#: The state of an owner with no connected account yet (not a stored status).
NOT_STARTED = "not_started"


@dataclass(frozen=True)
class ConnectOwner:
    """Whose connected account: a tenant's, or a service provider's (a platform row)."""

    owner_type: str
    tenant_id: int | None = None
    provider_id: int | None = None
    country: str = "US"
    email: str = ""
    business_name: str = ""

    @classmethod
    def tenant(cls, tenant) -> ConnectOwner:
        return cls(
            StripeConnectAccount.OwnerType.TENANT,
            tenant_id=tenant.pk,
            country=tenant.country or "US",
            email=tenant.contact_email,
            business_name=tenant.name,
        )

    @classmethod
    def provider(cls, provider, *, email: str = "") -> ConnectOwner:
        return cls(
            StripeConnectAccount.OwnerType.PROVIDER,
            provider_id=provider.pk,
            country=provider.country or "US",
            email=email,
            business_name=provider.business_name,
        )

    @property
    def owner_id(self) -> int:
        return self.tenant_id if self.owner_type == StripeConnectAccount.OwnerType.TENANT else self.provider_id

    def lookup(self) -> dict:
        if self.owner_type == StripeConnectAccount.OwnerType.TENANT:
            return {"owner_tenant_id": self.tenant_id}
        return {"provider_id": self.provider_id}

    def metadata(self) -> dict[str, str]:
        key = (
            "breederhq_tenant_id"
            if self.owner_type == StripeConnectAccount.OwnerType.TENANT
            else "breederhq_provider_id"
        )
        return {"breederhq_owner_type": self.owner_type, key: str(self.owner_id)}


@dataclass(frozen=True)
class OnboardingLink:
    account: StripeConnectAccount
    url: str
    expires_at: datetime
    created: datetime


# --- Reads ------------------------------------------------------------------------------------------


def connect_account_of(owner: ConnectOwner) -> StripeConnectAccount | None:
    """The owner's account, read in its context (row-level security), or None."""
    with owner_context(owner.tenant_id, using=DB):
        return StripeConnectAccount.objects.using(DB).filter(**owner.lookup()).first()


def onboarding_state(account: StripeConnectAccount | None) -> dict:
    """What a client shows: the flags Stripe reports, what is still due, and whether invoices can be
    paid through Stripe (`ready`: the rule payment settings and invoice creation use)."""
    if account is None:
        return {
            "stripe_account_id": None,
            "account_type": None,
            "status": NOT_STARTED,
            "ready": False,
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements_currently_due": [],
            "requirements_past_due": [],
            "requirements_current_deadline": None,
            "disabled_reason": "",
            "updated_at": None,
        }
    return {
        "stripe_account_id": account.stripe_account_id,
        "account_type": account.account_type or None,
        "status": account.status,
        "ready": is_ready(account),
        "charges_enabled": account.charges_enabled,
        "payouts_enabled": account.payouts_enabled,
        "details_submitted": account.details_submitted,
        "requirements_currently_due": list(account.requirements_currently_due or []),
        "requirements_past_due": list(account.requirements_past_due or []),
        "requirements_current_deadline": account.requirements_current_deadline,
        "disabled_reason": account.disabled_reason,
        "updated_at": account.updated_at,
    }


def is_ready(account: StripeConnectAccount | None) -> bool:
    """Whether new invoices may be collected through Stripe: the account can take charges and is
    not disabled (`can_take_payments`, the test invoice creation applies too)."""
    return account is not None and account.can_take_payments


def require_ready(account: StripeConnectAccount | None, *, who: str) -> None:
    """409 `stripe_account_not_ready` unless `is_ready`: the one refusal of Stripe mode."""
    if is_ready(account):
        return
    if account is None:
        detail = f"{who} has no Stripe account yet: start onboarding first."
    else:
        missing = [
            name
            for name, on in (("charges_enabled", account.charges_enabled), ("payouts_enabled", account.payouts_enabled))
            if not on
        ]
        detail = (
            f"{who}'s Stripe account {account.stripe_account_id} cannot take payments yet "
            f"({', '.join(missing) or account.disabled_reason or account.status}): finish onboarding first."
        )
    raise Conflict(
        detail,
        code="stripe_account_not_ready",
        extra={"account_status": account.status if account is not None else NOT_STARTED},
    )


# --- Applying what Stripe says ------------------------------------------------------------------------


def _status_of(data: dict) -> str:
    """Our summary. Stripe disables a new account until its requirements are given
    (`requirements.past_due`): that is onboarding (pending) or, once details were submitted,
    restricted; any other reason (rejected, paused by the platform, under review) is disabled."""
    reason = str((data.get("requirements") or {}).get("disabled_reason") or "")
    if reason and not reason.startswith("requirements."):
        return Status.DISABLED
    if reason:
        return Status.RESTRICTED if data.get("details_submitted") else Status.PENDING
    if data.get("charges_enabled") and data.get("payouts_enabled"):
        return Status.ENABLED
    if data.get("details_submitted"):
        return Status.RESTRICTED
    return Status.PENDING


def _strings(value) -> list[str]:
    return [str(item)[:200] for item in value][:100] if isinstance(value, list) else []


def _fields_of(data: dict) -> dict:
    """Our columns from a Stripe account object (an event's, or an API answer's)."""
    requirements = data.get("requirements") or {}
    deadline = requirements.get("current_deadline")
    return {
        "charges_enabled": bool(data.get("charges_enabled")),
        "payouts_enabled": bool(data.get("payouts_enabled")),
        "details_submitted": bool(data.get("details_submitted")),
        "disabled_reason": str(requirements.get("disabled_reason") or "")[:100],
        "requirements_currently_due": _strings(requirements.get("currently_due")),
        "requirements_past_due": _strings(requirements.get("past_due")),
        "requirements_current_deadline": (
            datetime.fromtimestamp(deadline, tz=UTC)
            if isinstance(deadline, int) and not isinstance(deadline, bool)
            else None
        ),
        "status": _status_of(data),
    }


def apply_account_object(account: StripeConnectAccount, data: dict, *, as_of: datetime) -> bool:
    """Copy a Stripe account object onto the (locked) row, unless the row already holds something
    newer (`last_event_created` after `as_of`). Saves in the owner's context; True when applied."""
    if account.last_event_created and as_of < account.last_event_created:
        return False
    for name, value in _fields_of(data).items():
        setattr(account, name, value)
    if data.get("type") in {"express", "standard", "custom"} and not account.account_type:
        account.account_type = data["type"]
    account.last_event_created = as_of
    with owner_context(account.owner_tenant_id, using=DB):
        account.save(using=DB)
    return True


# --- Writes -------------------------------------------------------------------------------------------


def _stripe_error(exc: stripe.StripeError, what: str) -> Conflict:
    message = getattr(exc, "user_message", None) or str(exc)
    return Conflict(f"Stripe refused to {what}: {message}", code="stripe_refused")


def _create_remote_account(owner: ConnectOwner):
    params = {
        "type": ACCOUNT_TYPE,
        "country": owner.country,
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        "metadata": owner.metadata(),
    }
    key = idempotency_key("connect.account", owner.owner_type, owner.owner_id, owner.country)
    for attempt in range(IN_PROGRESS_RETRIES + 1):
        try:
            return call_stripe(
                "account.create", stripe_client().v1.accounts.create, params=params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:
            if getattr(exc, "code", None) != "idempotency_key_in_use" or attempt == IN_PROGRESS_RETRIES:
                raise
            time.sleep(IN_PROGRESS_WAIT_SECONDS)  # the first request is still running: its answer comes
    raise AssertionError("unreachable")


def connect_account_ensure(owner: ConnectOwner) -> tuple[StripeConnectAccount, bool]:
    """The owner's account, made in Stripe and stored here if it has none. (account, created)."""
    existing = connect_account_of(owner)
    if existing is not None:
        return existing, False
    try:
        remote = _create_remote_account(owner)
    except StripeUnavailable as exc:
        raise Unavailable(
            "Stripe cannot be reached to create your account; nothing was created. Retry later.",
            code="stripe_unavailable",
        ) from exc
    except stripe.StripeError as exc:
        raise _stripe_error(exc, "create the account") from exc
    try:
        with owner_context(owner.tenant_id, using=DB), transaction.atomic(using=DB):
            account = StripeConnectAccount.objects.using(DB).create(
                stripe_account_id=remote.id,
                owner_type=owner.owner_type,
                owner_tenant_id=owner.tenant_id,
                provider_id=owner.provider_id,
                account_type=ACCOUNT_TYPE,
                **_fields_of(remote.to_dict()),
            )
    except IntegrityError:
        # A simultaneous request stored it first (the same Stripe account: same idempotency key).
        account = connect_account_of(owner)
        if account is None:
            raise
        return account, False
    logger.info("connect account %s created for %s %s", account.stripe_account_id, owner.owner_type, owner.owner_id)
    return account, True


def _return_urls(owner: ConnectOwner) -> tuple[str, str]:
    fill = {"owner_type": owner.owner_type}
    return (settings.STRIPE_CONNECT_REFRESH_URL.format(**fill), settings.STRIPE_CONNECT_RETURN_URL.format(**fill))


def onboarding_link_create(owner: ConnectOwner, *, account: StripeConnectAccount) -> OnboardingLink:
    """A fresh hosted onboarding link for the account (links are single-use and expire within minutes)."""
    refresh_url, return_url = _return_urls(owner)
    try:
        link = call_stripe(
            "account_link.create",
            stripe_client().v1.account_links.create,
            params={
                "account": account.stripe_account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            },
        )
    except StripeUnavailable as exc:
        raise Unavailable(
            "Stripe cannot be reached for an onboarding link. Retry later.", code="stripe_unavailable"
        ) from exc
    except stripe.StripeError as exc:
        raise _stripe_error(exc, "make an onboarding link") from exc
    return OnboardingLink(
        account=account,
        url=link.url,
        expires_at=datetime.fromtimestamp(link.expires_at, tz=UTC),
        created=datetime.fromtimestamp(link.created, tz=UTC),
    )


def onboarding_start(owner: ConnectOwner) -> tuple[OnboardingLink, bool]:
    """Create the account if there is none, then a link to Stripe's hosted onboarding. (link, created)."""
    account, created = connect_account_ensure(owner)
    return onboarding_link_create(owner, account=account), created


def onboarding_refresh(owner: ConnectOwner) -> OnboardingLink:
    """A new link for an account that exists (the last one expired or was used)."""
    account = connect_account_of(owner)
    if account is None:
        raise Conflict(
            "There is no Stripe account to onboard yet: start onboarding first.", code="stripe_account_missing"
        )
    return onboarding_link_create(owner, account=account)


def connect_account_sync(owner: ConnectOwner) -> StripeConnectAccount:
    """Re-read the account from Stripe now (the holder just came back from onboarding and the webhook
    may not be here yet) and apply it like an `account.updated` created at the moment we asked: an
    event created before that changes nothing afterwards, a later one still wins."""
    account = connect_account_of(owner)
    if account is None:
        raise Conflict("There is no Stripe account yet: start onboarding first.", code="stripe_account_missing")
    asked_at = datetime.now(tz=UTC).replace(microsecond=0)  # Stripe's event times are whole seconds
    try:
        remote = call_stripe("account.retrieve", stripe_client().v1.accounts.retrieve, account.stripe_account_id)
    except StripeUnavailable as exc:
        raise Unavailable(
            "Stripe cannot be reached to read your account. Retry later.", code="stripe_unavailable"
        ) from exc
    except stripe.StripeError as exc:
        raise _stripe_error(exc, "read the account") from exc
    with owner_context(owner.tenant_id, using=DB), transaction.atomic(using=DB):
        locked = StripeConnectAccount.objects.using(DB).select_for_update().get(pk=account.pk)
        apply_account_object(locked, remote.to_dict(), as_of=asked_at)
    return locked
