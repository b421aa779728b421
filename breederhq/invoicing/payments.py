"""The payments port: what the invoice lifecycle asks of payments, without importing payments_app.

The domain apps (tenant_app, marketplace_app) sit below payments_app (docs/architecture/layers.md):
they call these functions, and payments_app registers its implementation in its AppConfig.ready()
(payments_app/payments_port.py). Each function names the invoice by kind ("tenant" or
"marketplace", the keys of `breederhq.invoicing.lifecycle.invoice_kind`) and id.

- `stripe_mode_fallback`: whether a new Stripe-mode invoice of this owner must fall back to manual
  payment now (None: Stripe is usable), read-only, so it may run under the owner's row lock;
- `invoice_payment_record_fallback`: record that a new invoice fell back (the visible flag);
- `invoice_payment_open_on_commit`: inside the send's transaction: a card payment is opened once it commits;
- `invoice_payment_cancel_on_void`: inside the void's transaction: the open card payment is cancelled
  once it commits;
- `invoice_payment_close_for_manual`: before a payment by hand is recorded: the open card payment is
  cancelled first, so the buyer cannot pay twice;
- `invoice_refund_through_channel`: give money back through the channel that took it, once per key;
  returns an outcome whose `record` is the domain's record of it.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured


class Fallback(Protocol):
    reason: str
    allowed: bool
    account_id: str


class Payments(Protocol):
    def stripe_mode_fallback(
        self, *, tenant_id: int | None = None, provider_id: int | None = None
    ) -> Fallback | None: ...

    def invoice_payment_record_fallback(
        self,
        *,
        invoice_kind: str,
        invoice_id: int,
        tenant_id: int | None,
        reason: str,
        amount_cents: int,
        currency: str,
        connect_account_id: str = "",
    ) -> Any: ...

    def invoice_payment_open_on_commit(
        self, *, invoice_kind: str, invoice_id: int, tenant_id: int | None, using: str
    ) -> None: ...

    def invoice_payment_cancel_on_void(self, *, invoice_kind: str, invoice_id: int, using: str) -> None: ...

    def invoice_payment_close_for_manual(
        self, *, invoice_kind: str, invoice_id: int, tenant_id: int | None
    ) -> None: ...

    def invoice_refund_through_channel(
        self,
        *,
        invoice_kind: str,
        invoice_id: int,
        tenant_id: int | None,
        amount_cents: int,
        key: str,
        reason: str = "",
        expected_version: int | None = None,
        actor=None,
    ) -> Any: ...


_registered: Payments | None = None


def register(payments: Payments) -> None:
    """Called once per process by the payments app's ready()."""
    global _registered
    _registered = payments


def _payments() -> Payments:
    if _registered is None:
        raise ImproperlyConfigured("No payments implementation is registered (payments_app is not installed?).")
    return _registered


def stripe_mode_fallback(*, tenant_id: int | None = None, provider_id: int | None = None) -> Fallback | None:
    return _payments().stripe_mode_fallback(tenant_id=tenant_id, provider_id=provider_id)


def invoice_payment_record_fallback(**kwargs) -> Any:
    return _payments().invoice_payment_record_fallback(**kwargs)


def invoice_payment_open_on_commit(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, using: str) -> None:
    """After `using`'s transaction commits, open the invoice's card payment (the caller names its database)."""
    _payments().invoice_payment_open_on_commit(
        invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id, using=using
    )


def invoice_payment_cancel_on_void(**kwargs) -> None:
    _payments().invoice_payment_cancel_on_void(**kwargs)


def invoice_payment_close_for_manual(**kwargs) -> None:
    _payments().invoice_payment_close_for_manual(**kwargs)


def invoice_refund_through_channel(**kwargs) -> Any:
    return _payments().invoice_refund_through_channel(**kwargs)
