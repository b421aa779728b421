"""Payment providers: one interface, a Stripe Connect implementation and a manual one.

A provider turns a `PaymentRequest` (our invoice, in plain values) into something the buyer can pay,
and can cancel or refund it. `matching_id` is what reconciliation compares with the processor.
Stripe calls go through `call_stripe` (breaker, our idempotency keys); never call a provider inside
a transaction that holds locks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from breederhq.currencies import fee_of
from breederhq.databases import TENANT_DB
from payments_app.models import InvoicePayment, StripeConnectAccount
from payments_app.stripe_gateway import StripeUnavailable, breaker_is_open, call_stripe, idempotency_key, stripe_client

logger = logging.getLogger(__name__)

#: The platform's application fee on Stripe Connect payments, in basis points of the amount.
PLATFORM_FEE_BPS = 500


def application_fee_cents(amount_cents: int, currency: str) -> int:
    """Our fee on an amount in `currency`'s minor units: integer maths, rounded half up to the
    currency's step (breederhq.currencies.fee_of), in one place."""
    return fee_of(amount_cents, PLATFORM_FEE_BPS, currency)


@dataclass(frozen=True)
class PaymentRequest:
    invoice_kind: str
    invoice_id: int
    tenant_id: int | None
    amount_cents: int
    currency: str
    connect_account_id: str
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentResult:
    provider: str
    matching_id: str | None
    status: str
    client_secret: str | None = None


@dataclass(frozen=True)
class RefundResult:
    matching_id: str
    amount_cents: int
    status: str


class PaymentProvider(Protocol):
    name: str

    def execute(self, request: PaymentRequest) -> PaymentResult: ...

    def cancel(self, matching_id: str, *, key: str | None = None) -> str: ...

    def refund(
        self, matching_id: str, *, amount_cents: int, key: str, metadata: dict[str, str] | None = None
    ) -> RefundResult: ...


class StripeConnectProvider:
    """Destination charges: the platform creates the payment intent, Stripe transfers the amount
    minus our application fee to the breeder's or provider's connected account."""

    name = InvoicePayment.Provider.STRIPE

    def execute(self, request: PaymentRequest) -> PaymentResult:
        # Derived from the invoice alone: a retry after a crash (or a second worker) gets the very
        # same payment intent back from Stripe instead of a second one.
        key = idempotency_key("invoice.payment_intent", request.invoice_kind, request.invoice_id)
        intent = call_stripe(
            "payment_intent.create",
            stripe_client().v1.payment_intents.create,
            params={
                "amount": request.amount_cents,
                "currency": request.currency.lower(),
                "description": request.description,
                "metadata": request.metadata,
                "application_fee_amount": application_fee_cents(request.amount_cents, request.currency),
                "transfer_data": {"destination": request.connect_account_id},
            },
            options={"idempotency_key": key},
        )
        return PaymentResult(self.name, intent.id, intent.status, intent.to_dict().get("client_secret"))

    def cancel(self, matching_id: str, *, key: str | None = None) -> str:
        intent = call_stripe(
            "payment_intent.cancel",
            stripe_client().v1.payment_intents.cancel,
            matching_id,
            options={"idempotency_key": key or idempotency_key("payment_intent.cancel", matching_id)},
        )
        return intent.status

    def status_of(self, matching_id: str) -> str:
        return call_stripe("payment_intent.retrieve", stripe_client().v1.payment_intents.retrieve, matching_id).status

    def refund(
        self, matching_id: str, *, amount_cents: int, key: str, metadata: dict[str, str] | None = None
    ) -> RefundResult:
        params = {"payment_intent": matching_id, "amount": amount_cents}
        if metadata:
            params["metadata"] = metadata
        refund = call_stripe(
            "refund.create",
            stripe_client().v1.refunds.create,
            params=params,
            options={"idempotency_key": idempotency_key("refund", matching_id, key)},
        )
        return RefundResult(refund.id, refund.amount, refund.status)


class ManualProvider:
    """Bank transfer or cash: nothing to call; the buyer claims, the provider confirms."""

    name = InvoicePayment.Provider.MANUAL

    def execute(self, request: PaymentRequest) -> PaymentResult:
        return PaymentResult(self.name, None, "awaiting_manual_payment")

    def cancel(self, matching_id: str, *, key: str | None = None) -> str:
        return "canceled"

    def refund(
        self, matching_id: str, *, amount_cents: int, key: str, metadata: dict[str, str] | None = None
    ) -> RefundResult:
        # Money handed back by hand; the ledger records it (credit note), nothing to call.
        return RefundResult(matching_id, amount_cents, "recorded")


PROVIDERS: dict[str, PaymentProvider] = {p.name: p for p in (StripeConnectProvider(), ManualProvider())}


@dataclass(frozen=True)
class StripeFallback:
    reason: str
    allowed: bool
    account_id: str


def connect_account_for(*, tenant_id: int | None = None, provider_id: int | None = None) -> StripeConnectAccount | None:
    """The Connect account of a tenant (read in its context) or of a service provider (a platform
    row, read in `platform_context`): row-level security holds on `stripe_connect_accounts`."""
    from breederhq.tenancy import platform_context, tenant_context

    if tenant_id is not None:
        with tenant_context(tenant_id):
            return StripeConnectAccount.objects.using(TENANT_DB).filter(owner_tenant_id=tenant_id).first()
    if provider_id is None:
        return None
    with platform_context():
        return StripeConnectAccount.objects.using(TENANT_DB).filter(provider_id=provider_id).first()


def _breaker_open() -> bool:
    try:
        return breaker_is_open()
    except Exception:  # Redis unreachable: the breaker cannot say; the Stripe call will tell
        logger.warning("could not read the Stripe breaker state", exc_info=True)
        return False


def stripe_mode_fallback(*, tenant_id: int | None = None, provider_id: int | None = None) -> StripeFallback | None:
    """Whether a new invoice of this owner, whose payment mode is Stripe, must fall back to manual.

    Only reads (a database row and the breaker's state in Redis), so invoice creation may call it
    while it holds the owner's row lock. None: Stripe mode is usable (or no Connect account exists
    yet, which onboarding, not a fallback, resolves).
    """
    account = connect_account_for(tenant_id=tenant_id, provider_id=provider_id)
    if account is None:
        return None
    if not account.can_take_payments:
        return StripeFallback(
            InvoicePayment.FallbackReason.ACCOUNT_DISABLED, account.allow_manual_fallback, account.stripe_account_id
        )
    if _breaker_open():
        return StripeFallback(
            InvoicePayment.FallbackReason.BREAKER_OPEN, account.allow_manual_fallback, account.stripe_account_id
        )
    return None


__all__ = [
    "PROVIDERS",
    "ManualProvider",
    "PaymentRequest",
    "PaymentResult",
    "StripeConnectProvider",
    "StripeFallback",
    "StripeUnavailable",
    "application_fee_cents",
    "connect_account_for",
    "stripe_mode_fallback",
]
