"""What each Stripe event type does. One function per type, registered with `@handles`.

A handler runs inside the processing transaction (tenant database) with the event row locked; it
returns a short outcome for support staff. It must be safe to run again for the same event (the
inbox makes that rare, not impossible) and must never move state backwards for a late event.

The payment and Connect account rows are under row-level security and the event does not say
whose they are until one is found: a handler finds them through `payments_app.access.locate` (the
audited, SELECT-only system read), then locks and writes them in their owner's context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from breederhq.databases import TENANT_DB
from breederhq.invoicing.lifecycle import invoice_kind
from breederhq.invoicing.status import SETTLED, InvoiceStatus, PaymentModeSnapshot
from breederhq.tenancy import owner_context
from payments_app.access import locate
from payments_app.models import (
    InvoiceKind,
    InvoicePayment,
    ReconciliationState,
    StripeConnectAccount,
    StripeStatus,
    StripeWebhookEvent,
)

Handler = Callable[[StripeWebhookEvent], str]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str):
    def register(function: Handler) -> Handler:
        for event_type in event_types:
            HANDLERS[event_type] = function
        return function

    return register


@handles("account.updated")
def account_updated(event: StripeWebhookEvent) -> str:
    """The account's flags and what Stripe still needs (payments_app/onboarding.py), applied only
    when the event is not older than what the row holds."""
    from payments_app.onboarding import apply_account_object

    data = event.payload["data"]["object"]
    account = locate(
        StripeConnectAccount, job="stripe_webhook:account.updated", lock=True, stripe_account_id=data["id"]
    )
    if account is None:
        return f"ignored: no local account {data['id']}"
    created: datetime = event.stripe_created
    if not apply_account_object(account, data, as_of=created):
        return "ignored: older than the last applied account.updated"
    due = len(account.requirements_currently_due) + len(account.requirements_past_due)
    return f"account {account.stripe_account_id} is {account.status}" + (f" ({due} requirements due)" if due else "")


# --- Invoices: payment, failure, void, refunds, disputes ------------------------------------------
# Each handler finds our invoice from the metadata we put on the Stripe object when we created it
# (kind, id and, for tenant invoices, the tenant whose context it enters), or from the payment
# intent id we stored. Effects go through the tenant and marketplace services, which lock, re-check
# and make a repeat a no-op; what a handler refuses to do (move backwards) it says in its outcome.


class InvalidEventAmount(Exception):
    """A money field of the event is not an integer (a float, a string, a bool, or missing where it
    is required). Amounts are never rounded or parsed: the event is dead-lettered at once with this
    reason, for support staff (stripe_event_process)."""

    permanent = True


def money(data: dict, field: str, *, required: bool = False, default: int | None = None) -> int | None:
    """`data[field]` as Stripe sends money: a JSON integer, in minor units. Anything else fails the
    event; an absent (or null) optional field is `default`."""
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidEventAmount(
                f"{field} is required and missing (or null) on {data.get('object', 'the object')} "
                f"{data.get('id', '')}".rstrip()
            )
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventAmount(
            f"{field} is not an integer amount in minor units: {value!r} "
            f"({type(value).__name__}); nothing was rounded or recorded"
        )
    if value < 0:
        raise InvalidEventAmount(f"{field} is negative: {value}")
    return value


class EventNotReady(Exception):
    """The event is about a state we do not have yet (a refund before its payment arrived):
    failing makes the inbox retry it with backoff, by which time the earlier event has landed."""


@dataclass(frozen=True)
class Target:
    kind: str
    invoice_id: int
    tenant_id: int | None
    payment: InvoicePayment | None


def _target(data: dict) -> Target | None:
    intent_id = data["id"] if data.get("object") == "payment_intent" else data.get("payment_intent")
    payment = None
    if intent_id:
        payment = locate(InvoicePayment, job="stripe_webhook:payment", lock=True, stripe_payment_intent_id=intent_id)
    metadata = data.get("metadata") or {}
    if metadata.get("breederhq_invoice_kind") in InvoiceKind.values and metadata.get("breederhq_invoice_id"):
        tenant = metadata.get("breederhq_tenant_id")
        kind, invoice_id = metadata["breederhq_invoice_kind"], int(metadata["breederhq_invoice_id"])
        if payment is None:
            payment = locate(
                InvoicePayment, job="stripe_webhook:payment", lock=True, invoice_kind=kind, invoice_id=invoice_id
            )
        return Target(kind, invoice_id, int(tenant) if tenant else None, payment)
    if payment is not None:
        return Target(payment.invoice_kind, payment.invoice_id, payment.owner_tenant_id, payment)
    return None


def _invoices(target: Target):
    """The adapter of the target's invoice kind (breederhq/invoicing/lifecycle.py)."""
    return invoice_kind(target.kind)


def _facts(target: Target):
    return _invoices(target).facts(target.invoice_id, tenant_id=target.tenant_id)


def _note_payment(target: Target, **fields) -> None:
    if target.payment is None:
        return
    for name, value in fields.items():
        setattr(target.payment, name, value)
    with owner_context(target.payment.owner_tenant_id):
        target.payment.save(using=TENANT_DB, update_fields=[*fields, "updated_at"])


def _mark_mismatch(target: Target, note: str) -> str:
    _invoices(target).set_reconciliation_status(
        target.invoice_id, tenant_id=target.tenant_id, status="mismatch", note=note, actor_label="stripe"
    )
    _note_payment(target, reconciliation_status=ReconciliationState.MISMATCH, reconciliation_note=note[:300])
    return f"mismatch: {note}"


def _fee_disagreement(target: Target, fee: int | None, what: str) -> str:
    """'' when the application fee Stripe reports is the one we asked for (the payment row's snapshot),
    else the disagreement in words."""
    if fee is None or target.payment is None or target.payment.provider != InvoicePayment.Provider.STRIPE:
        return ""
    if fee == target.payment.application_fee_cents:
        return ""
    return (
        f"{what} application fee {fee}, expected {target.payment.application_fee_cents} "
        f"({target.kind} invoice #{target.invoice_id})"
    )


def _paid(event: StripeWebhookEvent, *, amount: int, currency: str, matching_id: str, fee: int | None = None) -> str:
    target = _target(event.payload["data"]["object"])
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here (missing_local)"
    if facts.status in SETTLED:
        if (
            target.payment is None
            or target.payment.stripe_status == StripeStatus.SUCCEEDED
            or target.payment.provider != InvoicePayment.Provider.STRIPE
        ):
            return f"duplicate: invoice {facts.number} already {facts.status}"
        return _collected_twice(target, facts, amount=amount)
    # What is still due: the total, less what a tenant invoice collected in parts by hand (the card
    # payment's intent asks for that balance: payments_app/card_payments.py).
    due = facts.total_cents - facts.paid_cents
    if amount != due or currency.upper() != facts.currency:
        return _mark_mismatch(
            target,
            f"Stripe paid {amount} {currency.upper()}, invoice {facts.number} is "
            f"{facts.total_cents} {facts.currency} with {due} due; not marked paid",
        )
    if facts.status == InvoiceStatus.VOID or facts.payment_mode != PaymentModeSnapshot.STRIPE:
        return _mark_mismatch(
            target,
            f"Stripe took a payment for invoice {facts.number}, which is "
            f"{facts.status} in {facts.payment_mode} mode here",
        )
    _invoices(target).mark_paid(
        target.invoice_id, tenant_id=target.tenant_id, method=InvoicePayment.Provider.STRIPE, reference=matching_id
    )
    _note_payment(target, stripe_status=StripeStatus.SUCCEEDED)
    # The buyer paid the right amount, so the invoice is paid; a wrong platform fee is ours and the
    # breeder's to sort out: the invoice and its payment row are flagged for staff.
    fee_problem = _fee_disagreement(target, fee, "Stripe took an")
    if fee_problem:
        return f"invoice {facts.number} paid; " + _mark_mismatch(target, fee_problem)
    return f"invoice {facts.number} paid"


def _collected_twice(target: Target, facts, *, amount: int) -> str:
    """The card paid an invoice already settled another way (by hand): the buyer paid twice. The
    card money goes back through Stripe (a worker, after this commits), and the invoice and its
    payment row are flagged for finance (the tenant invoice's change is audited)."""
    from payments_app.refunds import duplicate_collection_return

    note = (
        f"collected twice: card payment {target.payment.stripe_payment_intent_id} of {amount} arrived for "
        f"invoice {facts.number}, already {facts.status}; the card payment is refunded"
    )
    _note_payment(target, stripe_status=StripeStatus.SUCCEEDED)
    if amount > 0:
        duplicate_collection_return(payment=target.payment, amount_cents=amount, note=note)
    return _mark_mismatch(target, note)


@handles("invoice.paid")
def invoice_paid(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    return _paid(
        event,
        amount=money(data, "amount_paid", required=True),
        currency=data.get("currency") or "",
        matching_id=data.get("payment_intent") or data["id"],
        fee=money(data, "application_fee_amount"),
    )


@handles("payment_intent.succeeded")
def payment_intent_succeeded(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    field = "amount_received" if "amount_received" in data else "amount"
    return _paid(
        event,
        amount=money(data, field, required=True),
        currency=data.get("currency") or "",
        matching_id=data["id"],
        fee=money(data, "application_fee_amount"),
    )


@handles("invoice.payment_failed")
def invoice_payment_failed(event: StripeWebhookEvent) -> str:
    target = _target(event.payload["data"]["object"])
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here"
    if facts.status in SETTLED or facts.status == InvoiceStatus.VOID:
        return f"ignored: late invoice.payment_failed, invoice {facts.number} is already {facts.status}"
    _note_payment(target, stripe_status="payment_failed")
    return f"payment failed; invoice {facts.number} stays {facts.status}"


@handles("invoice.voided")
def invoice_voided(event: StripeWebhookEvent) -> str:
    target = _target(event.payload["data"]["object"])
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here"
    if facts.status == InvoiceStatus.VOID:
        return f"duplicate: invoice {facts.number} already void"
    if facts.status not in {InvoiceStatus.DRAFT, InvoiceStatus.SENT}:
        return f"ignored: invoice {facts.number} is {facts.status}; a Stripe void does not move it back"
    _invoices(target).void(target.invoice_id, tenant_id=target.tenant_id, reason="voided in Stripe")
    _note_payment(target, stripe_status=StripeStatus.VOID)
    return f"invoice {facts.number} voided"


def _reverse(
    target: Target, facts, *, amount: int, key: str, reason: str, reference: str, refunded_total: int | None = None
) -> None:
    # With the cumulative total the invoice's refund service re-computes the difference under the
    # invoice's lock: a refund the API recorded after `facts` was read is not added a second time.
    _invoices(target).refund(
        target.invoice_id,
        tenant_id=target.tenant_id,
        amount_cents=amount,
        reason=reason,
        ledger_key=key,
        method=InvoicePayment.Provider.STRIPE,
        reference=reference,
        refunded_total_cents=refunded_total,
    )


@handles("charge.refunded")
def charge_refunded(event: StripeWebhookEvent) -> str:
    """`amount_refunded` is cumulative, so the difference with what we recorded is the new refund:
    a duplicate or an older event (smaller total) arriving late finds nothing to add."""
    data = event.payload["data"]["object"]
    target = _target(data)
    from payments_app.ledger_handlers import record_charge_refunds

    record_charge_refunds(event, data)  # each refund listed on the charge, in the ledger
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here"
    total_refunded = money(data, "amount_refunded", required=True)
    charged = money(data, "amount", default=facts.total_cents)
    currency = (data.get("currency") or facts.currency).upper()
    if charged != facts.total_cents or currency != facts.currency or total_refunded > facts.total_cents:
        return _mark_mismatch(
            target,
            f"Stripe charge {data['id']} of {charged} {currency} refunded {total_refunded}, "
            f"invoice {facts.number} is {facts.total_cents} {facts.currency}; no refund recorded",
        )
    if facts.status not in SETTLED:
        raise EventNotReady(f"invoice {facts.number} is {facts.status}; its payment has not arrived yet")
    if target.payment is not None:
        from payments_app.refund_completion import records_unapplied
        from payments_app.refunds import refunded_for_the_invoice, refunds_in_flight

        if refunds_in_flight(target.payment) or records_unapplied(target.payment):
            # A refund asked for through the API (or returning a duplicate payment) is between Stripe
            # and our ledger: retried once it is recorded, so the same money never counts twice.
            raise EventNotReady(f"a refund of invoice {facts.number} is being sent; retried after it is recorded")
        if (
            target.payment.provider == InvoicePayment.Provider.STRIPE
            and target.payment.stripe_status != StripeStatus.SUCCEEDED
        ):
            raise EventNotReady(f"the card payment of invoice {facts.number} has not been applied yet")
        total_refunded = refunded_for_the_invoice(target.payment, total_refunded)
    new = total_refunded - facts.refunded_cents
    if new <= 0:
        return f"ignored: refunds up to {total_refunded} already recorded on invoice {facts.number}"
    _reverse(
        target,
        facts,
        amount=new,
        key=f"stripe:refund:{data['id']}:{total_refunded}",
        reason="refunded in Stripe",
        reference=data["id"],
        refunded_total=total_refunded,
    )
    _note_payment(
        target,
        refunded_cents=max(
            target.payment.refunded_cents if target.payment else 0, money(data, "amount_refunded", required=True)
        ),
    )
    return f"refunded {new} on invoice {facts.number} ({'full' if total_refunded >= facts.total_cents else 'partial'})"


# Disputes (charge.dispute.*): payments_app/disputes.py; Connect money movement (the charge, application
# fees, transfers, payouts): payments_app/connect_handlers.py; both registered below.


# Handlers kept in their own modules, registered in HANDLERS when this table is imported.
from payments_app import connect_handlers as _connect_handlers  # noqa: E402, F401
from payments_app import disputes as _disputes  # noqa: E402, F401
from payments_app import ledger_handlers as _ledger_handlers  # noqa: E402, F401
