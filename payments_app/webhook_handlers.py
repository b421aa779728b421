"""What each Stripe event type does. One function per type, registered with `@handles`.

A handler runs inside the processing transaction (tenant database) with the event row locked; it
returns a short outcome for support staff. It must be safe to run again for the same event (the
inbox makes that rare, not impossible) and must never move state backwards for a late event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from breederhq.outbox import outbox_enqueue
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from payments_app.models import InvoiceKind, InvoicePayment, ReconciliationState, StripeConnectAccount, StripeWebhookEvent
from tenant_app import services as tenant_services

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


# --- Invoices: payment, failure, void, refunds, disputes ------------------------------------------
# Each handler finds our invoice from the metadata we put on the Stripe object when we created it
# (kind, id and, for tenant invoices, the tenant whose context it enters), or from the payment
# intent id we stored. Effects go through the tenant and marketplace services, which lock, re-check
# and make a repeat a no-op; what a handler refuses to do (move backwards) it says in its outcome.

SETTLED = {"paid", "partially_refunded", "refunded"}


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
        payment = (InvoicePayment.objects.using("default").select_for_update()
                   .filter(stripe_payment_intent_id=intent_id).first())
    metadata = data.get("metadata") or {}
    if metadata.get("breederhq_invoice_kind") in InvoiceKind.values and metadata.get("breederhq_invoice_id"):
        tenant = metadata.get("breederhq_tenant_id")
        kind, invoice_id = metadata["breederhq_invoice_kind"], int(metadata["breederhq_invoice_id"])
        if payment is None:
            payment = (InvoicePayment.objects.using("default").select_for_update()
                       .filter(invoice_kind=kind, invoice_id=invoice_id).first())
        return Target(kind, invoice_id, int(tenant) if tenant else None, payment)
    if payment is not None:
        return Target(payment.invoice_kind, payment.invoice_id, payment.owner_tenant_id, payment)
    return None


def _facts(target: Target):
    from payments_app.services import invoice_facts

    return invoice_facts(invoice_kind=target.kind, invoice_id=target.invoice_id, tenant_id=target.tenant_id)


def _note_payment(target: Target, **fields) -> None:
    if target.payment is None:
        return
    for name, value in fields.items():
        setattr(target.payment, name, value)
    target.payment.save(using="default", update_fields=[*fields, "updated_at"])


def _mark_mismatch(target: Target, note: str) -> str:
    if target.kind == InvoiceKind.TENANT:
        with tenant_context(target.tenant_id):
            tenant_services.invoice_set_reconciliation_status(invoice_id=target.invoice_id, status="mismatch",
                                                              note=note, actor_label="stripe")
    else:
        marketplace_services.marketplace_invoice_set_reconciliation_status(invoice_id=target.invoice_id,
                                                                           status="mismatch")
    _note_payment(target, reconciliation_status=ReconciliationState.MISMATCH, reconciliation_note=note[:300])
    return f"mismatch: {note}"


def _paid(event: StripeWebhookEvent, *, amount: int, currency: str, matching_id: str) -> str:
    target = _target(event.payload["data"]["object"])
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here (missing_local)"
    if facts.status in SETTLED:
        return f"duplicate: invoice {facts.number} already {facts.status}"
    if amount != facts.total_cents or currency.upper() != facts.currency:
        return _mark_mismatch(target, f"Stripe paid {amount} {currency.upper()}, invoice {facts.number} is "
                                      f"{facts.total_cents} {facts.currency}; not marked paid")
    if facts.status == "void" or facts.payment_mode != "stripe":
        return _mark_mismatch(target, f"Stripe took a payment for invoice {facts.number}, which is "
                                      f"{facts.status} in {facts.payment_mode} mode here")
    if target.kind == InvoiceKind.TENANT:
        with tenant_context(target.tenant_id):
            tenant_services.invoice_mark_paid(invoice_id=target.invoice_id, method="stripe",
                                              idempotency_key=f"stripe:{matching_id}", external_reference=matching_id,
                                              actor_label="stripe")
    else:
        marketplace_services.marketplace_invoice_mark_paid(invoice_id=target.invoice_id, source="stripe")
    _note_payment(target, stripe_status="succeeded")
    return f"invoice {facts.number} paid"


@handles("invoice.paid")
def invoice_paid(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    return _paid(event, amount=int(data.get("amount_paid") or 0), currency=data.get("currency") or "",
                 matching_id=data.get("payment_intent") or data["id"])


@handles("payment_intent.succeeded")
def payment_intent_succeeded(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    amount = data.get("amount_received") if data.get("amount_received") is not None else data.get("amount")
    return _paid(event, amount=int(amount or 0), currency=data.get("currency") or "", matching_id=data["id"])


@handles("invoice.payment_failed")
def invoice_payment_failed(event: StripeWebhookEvent) -> str:
    target = _target(event.payload["data"]["object"])
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here"
    if facts.status in SETTLED or facts.status == "void":
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
    if facts.status == "void":
        return f"duplicate: invoice {facts.number} already void"
    if facts.status not in {"draft", "sent"}:
        return f"ignored: invoice {facts.number} is {facts.status}; a Stripe void does not move it back"
    if target.kind == InvoiceKind.TENANT:
        with tenant_context(target.tenant_id):
            tenant_services.invoice_void(invoice_id=target.invoice_id, reason="voided in Stripe", actor=None)
    else:
        version = marketplace_services.MarketplaceInvoice.objects.using("marketplace").values_list(
            "version", flat=True).get(pk=target.invoice_id)
        marketplace_services.marketplace_invoice_void(invoice_id=target.invoice_id, expected_version=version)
    _note_payment(target, stripe_status="void")
    return f"invoice {facts.number} voided"


def _reverse(target: Target, facts, *, amount: int, key: str, reason: str, reference: str) -> None:
    if target.kind == InvoiceKind.TENANT:
        with tenant_context(target.tenant_id):
            tenant_services.invoice_refund(invoice_id=target.invoice_id, amount_cents=amount, reason=reason,
                                           idempotency_key=key, method="stripe", external_reference=reference)
    else:
        marketplace_services.marketplace_invoice_refund(invoice_id=target.invoice_id, amount_cents=amount)


@handles("charge.refunded")
def charge_refunded(event: StripeWebhookEvent) -> str:
    """`amount_refunded` is cumulative, so the difference with what we recorded is the new refund:
    a duplicate or an older event (smaller total) arriving late finds nothing to add."""
    data = event.payload["data"]["object"]
    target = _target(data)
    if target is None:
        return "ignored: not one of our invoices"
    facts = _facts(target)
    if facts is None:
        return f"ignored: {target.kind} invoice #{target.invoice_id} not found here"
    total_refunded = int(data.get("amount_refunded") or 0)
    if facts.status not in SETTLED:
        raise EventNotReady(f"invoice {facts.number} is {facts.status}; its payment has not arrived yet")
    new = total_refunded - facts.refunded_cents
    if new <= 0:
        return f"ignored: refunds up to {total_refunded} already recorded on invoice {facts.number}"
    _reverse(target, facts, amount=new, key=f"stripe:refund:{data['id']}:{total_refunded}",
             reason="refunded in Stripe", reference=data["id"])
    _note_payment(target, refunded_cents=total_refunded)
    return f"refunded {new} on invoice {facts.number} ({'full' if total_refunded >= facts.total_cents else 'partial'})"


@handles("charge.dispute.created")
def dispute_created(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    target = _target(data)
    if target is None or target.payment is None:
        return "ignored: dispute on a payment that is not ours"
    payment = target.payment
    if payment.dispute_id == data["id"] and payment.dispute_status in {"won", "lost"}:
        return f"ignored: dispute {data['id']} already closed ({payment.dispute_status})"
    if payment.dispute_id == data["id"]:
        return f"duplicate: dispute {data['id']} already open"
    _note_payment(target, dispute_id=data["id"], dispute_status=data.get("status") or "needs_response")
    # The marketplace transaction lives in the other database: the outbox moves it, exactly once.
    outbox_enqueue(using="default", topic="payments.dispute_opened",
                   payload={"invoice_type": target.kind, "invoice_id": target.invoice_id})
    return f"dispute {data['id']} opened on {target.kind} invoice #{target.invoice_id}"


@handles("charge.dispute.closed")
def dispute_closed(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    target = _target(data)
    if target is None or target.payment is None:
        return "ignored: dispute on a payment that is not ours"
    outcome = data.get("status")
    if outcome not in {"won", "lost"}:
        return f"ignored: dispute closed as {outcome}"
    payment = target.payment
    if payment.dispute_id == data["id"] and payment.dispute_status in {"won", "lost"}:
        return f"duplicate: dispute {data['id']} already {payment.dispute_status}"
    if outcome == "lost":
        facts = _facts(target)
        if facts.status not in SETTLED:
            raise EventNotReady(f"invoice {facts.number} is {facts.status}; its payment has not arrived yet")
        remaining = facts.total_cents - facts.refunded_cents
        if remaining > 0:
            _reverse(target, facts, amount=remaining, key=f"stripe:dispute:{data['id']}",
                     reason=f"dispute {data['id']} lost", reference=data["id"])
    _note_payment(target, dispute_id=data["id"], dispute_status=outcome)
    outbox_enqueue(using="default", topic="payments.dispute_closed",
                   payload={"invoice_type": target.kind, "invoice_id": target.invoice_id, "won": outcome == "won"})
    return f"dispute {data['id']} {outcome}"
