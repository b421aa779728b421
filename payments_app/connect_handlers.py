"""Webhook handlers of Connect money movement (the charge, application fees, transfers, payouts),
registered in payments_app/webhook_handlers.py's table through `@handles`."""

from __future__ import annotations

from breederhq.databases import TENANT_DB
from breederhq.tenancy import system_read_context
from payments_app.access import locate, owner_of
from payments_app.models import (
    ConnectMoneyMovement,
    InvoicePayment,
    StripeConnectAccount,
    StripeWebhookEvent,
)
from payments_app.webhook_handlers import Target, _fee_disagreement, _mark_mismatch, _target, handles, money

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
