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
from breederhq.tenancy import owner_context, system_read_context
from payments_app.access import locate, owner_of
from payments_app.models import (
    ConnectMoneyMovement,
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


# Disputes (charge.dispute.*): payments_app/disputes.py, registered below.


# --- Connect money movement: application fee, transfer, payout ------------------------------------
# Destination charges: the buyer's charge lands on the platform, Stripe keeps our application fee
# and transfers the rest to the connected account, which later pays it out to its bank. Each Stripe
# object is one ConnectMoneyMovement row (unique id): duplicates find it, and whichever event comes
# first creates it while a later one only fills in what was missing.

Movement = ConnectMoneyMovement.Kind


def object_time(data: dict, event: StripeWebhookEvent):
    from payments_app.ledger import object_time as when

    return when(data, event)


def _record_movement(
    *,
    kind: str,
    object_id: str,
    event: StripeWebhookEvent,
    amount: int,
    currency: str,
    status: str,
    payment: InvoicePayment | None = None,
    account: str = "",
    charge: str = "",
    occurred_at=None,
) -> tuple[ConnectMoneyMovement, bool]:
    # The ledger's one writer (row-level security, idempotency, ordering): payments_app/ledger.py.
    from payments_app.ledger import record_movement

    return record_movement(
        kind=kind,
        object_id=object_id,
        event=event,
        amount=amount,
        currency=currency,
        status=status,
        payment=payment,
        account=account,
        charge=charge,
        occurred_at=occurred_at,
    )


@handles("charge.succeeded")
def charge_succeeded(event: StripeWebhookEvent) -> str:
    """The fee and the transfer of one paid invoice, both named on its charge."""
    data = event.payload["data"]["object"]
    target = _target(data)
    if target is None or target.payment is None:
        return "ignored: charge of a payment that is not ours"
    payment, charge_id, currency = target.payment, data["id"], data.get("currency") or target.payment.currency
    destination = (data.get("transfer_data") or {}).get("destination") or payment.connect_account_id
    fee = money(data, "application_fee_amount", default=0)
    notes = []
    from payments_app.ledger_handlers import record_charge_payment

    record_charge_payment(event, data, payment=payment, account=destination)  # the buyer's payment, in the ledger
    if data.get("application_fee"):
        _, new = _record_movement(
            kind=Movement.APPLICATION_FEE,
            object_id=data["application_fee"],
            event=event,
            amount=fee,
            currency=currency,
            status="collected",
            payment=payment,
            account=destination,
            charge=charge_id,
            occurred_at=object_time(data, event),
        )
        notes.append(f"fee {fee}" if new else "fee already recorded")
    problems = [p for p in [_fee_disagreement(target, fee if data.get("application_fee") else None, "charge")] if p]
    if data.get("transfer"):
        transfer_amount = money(data.get("transfer_data") or {}, "amount")
        amount = transfer_amount if transfer_amount is not None else money(data, "amount", required=True) - fee
        movement, new = _record_movement(
            kind=Movement.TRANSFER,
            object_id=data["transfer"],
            event=event,
            amount=amount,
            currency=currency,
            status="created",
            payment=payment,
            account=destination,
            charge=charge_id,
            occurred_at=object_time(data, event),
        )
        notes.append(f"transfer {amount} to {destination}" if new else "transfer already recorded")
        # A transfer event seen first recorded Stripe's own amount: check that one.
        problems += [p for p in [_transfer_disagreement(payment, movement.amount_cents)] if p]
    if not notes:
        return f"charge {charge_id}: no Connect fee or transfer on it"
    outcome = f"charge {charge_id}: " + "; ".join(notes)
    if problems:
        outcome += "; " + _mark_mismatch(target, "; ".join(problems))
    return outcome


def _transfer_disagreement(payment: InvoicePayment, amount: int) -> str:
    """'' when the transfer to the connected account is the invoice amount minus our fee snapshot."""
    expected = payment.amount_cents - payment.application_fee_cents
    if amount == expected:
        return ""
    return (
        f"transfer {amount} to the connected account, expected {expected} "
        f"({payment.invoice_kind} invoice #{payment.invoice_id} minus the fee)"
    )


def _payment_of_charge(charge_id: str) -> InvoicePayment | None:
    """The invoice payment a charge belongs to, as far as its recorded fee or transfer says."""
    if not charge_id:
        return None
    with system_read_context(job="stripe_webhook:charge"):  # the ledger is under row-level security
        known = (
            ConnectMoneyMovement.objects.using(TENANT_DB)
            .filter(source_charge_id=charge_id)
            .exclude(invoice_payment=None)
            .values_list("invoice_payment_id", flat=True)
            .first()
        )
    return locate(InvoicePayment, job="stripe_webhook:charge", lock=True, pk=known) if known else None


@handles("application_fee.created", "application_fee.refunded")
def application_fee_event(event: StripeWebhookEvent) -> str:
    """The platform's fee on a charge, told on its own. May arrive before the charge: then it is
    recorded unlinked, and `charge.succeeded` links it (and checks the charge's fee)."""
    data = event.payload["data"]["object"]
    charge_id = data.get("charge") or ""
    payment = _payment_of_charge(charge_id)
    status = "refunded" if data.get("refunded") else "collected"
    fee_amount = money(data, "amount", required=True)
    movement, new = _record_movement(
        kind=Movement.APPLICATION_FEE,
        object_id=data["id"],
        event=event,
        amount=fee_amount,
        currency=data.get("currency") or "usd",
        status=status,
        payment=payment,
        account=data.get("account") or "",
        charge=charge_id,
        occurred_at=object_time(data, event),
    )
    outcome = f"application fee {data['id']} {'recorded' if new else 'already recorded'} ({movement.status})"
    if payment is not None:
        target = Target(payment.invoice_kind, payment.invoice_id, payment.owner_tenant_id, payment)
        problem = _fee_disagreement(target, fee_amount, "Stripe took an")
        if problem:
            outcome += "; " + _mark_mismatch(target, problem)
    return outcome


@handles("transfer.created", "transfer.reversed")
def transfer_event(event: StripeWebhookEvent) -> str:
    """May arrive before its charge: then it is recorded unlinked, and the charge links it."""
    data = event.payload["data"]["object"]
    charge_id = data.get("source_transaction") or ""
    payment = None
    if charge_id:
        known = _payment_of_charge(charge_id)
        known = known.pk if known is not None else None
        payment = locate(InvoicePayment, job="stripe_webhook:transfer", pk=known) if known else None
    status = "reversed" if data.get("reversed") or event.event_type == "transfer.reversed" else "created"
    transfer_amount = money(data, "amount", required=True)
    movement, new = _record_movement(
        kind=Movement.TRANSFER,
        object_id=data["id"],
        event=event,
        amount=transfer_amount,
        currency=data.get("currency") or "usd",
        status=status,
        payment=payment,
        account=data.get("destination") or "",
        charge=charge_id,
        occurred_at=object_time(data, event),
    )
    outcome = f"transfer {data['id']} {'recorded' if new else 'already recorded'} ({movement.status})"
    # The payment row is read in its owner's context (a plain `movement.invoice_payment` would see
    # nothing under row-level security).
    linked = (
        payment
        if payment is not None and payment.pk == movement.invoice_payment_id
        else locate(InvoicePayment, job="stripe_webhook:transfer", pk=movement.invoice_payment_id)
        if movement.invoice_payment_id
        else None
    )
    problem = _transfer_disagreement(linked, transfer_amount) if linked is not None else ""
    if problem:  # unlinked (before its charge): the charge checks it when it links it
        locked = locate(InvoicePayment, job="stripe_webhook:transfer", lock=True, pk=linked.pk)
        target = Target(locked.invoice_kind, locked.invoice_id, locked.owner_tenant_id, locked)
        outcome += "; " + _mark_mismatch(target, problem)
    return outcome


@handles("payout.paid", "payout.failed")
def payout_event(event: StripeWebhookEvent) -> str:
    """A connected account's payout to its bank (the event comes from that account)."""
    data = event.payload["data"]["object"]
    account = event.stripe_account_id
    if not account or owner_of(StripeConnectAccount, job="stripe_webhook:payout", stripe_account_id=account) is None:
        return f"ignored: payout of an account that is not ours ({account or 'platform'})"
    movement, new = _record_movement(
        kind=Movement.PAYOUT,
        object_id=data["id"],
        event=event,
        amount=money(data, "amount", required=True),
        currency=data.get("currency") or "usd",
        status=data.get("status") or event.event_type.split(".")[1],
        account=account,
        occurred_at=object_time(data, event),
    )
    return f"payout {data['id']} of {account} {'recorded' if new else 'already recorded'} ({movement.status})"


# Handlers kept in their own modules, registered in HANDLERS when this table is imported.
from payments_app import disputes as _disputes  # noqa: E402, F401
from payments_app import ledger_handlers as _ledger_handlers  # noqa: E402, F401
