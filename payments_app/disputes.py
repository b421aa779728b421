"""Disputes (chargebacks) of invoices' card payments: what Stripe tells us, what the invoice shows,
and what a lost dispute does to the invoice.

- `charge.dispute.created|updated|closed|funds_withdrawn|funds_reinstated` all go through
  `dispute_event`: one `InvoiceDispute` row per Stripe dispute (unique id), moved forward only by a
  newer event; a closed dispute (won, lost) never opens again, so duplicated and out-of-order
  deliveries are harmless. Each dispute is also an entry of its connected account's ledger.
- Closed as **won**: the invoice keeps its money; only the dispute's status changes.
- Closed as **lost**: the disputed amount (at most what is still paid) leaves the invoice like a
  refund, through the invoice's own refund service (credit note, refund row, lifecycle change and
  audit), once: `settled_at` marks it done, and the idempotency key is the dispute's.
- Reconciliation (payments_app/reconciliation.py) compares Stripe's disputes with these rows
  (`dispute_disagreements`): a lost dispute that is settled here is in agreement.

Evidence (the seller's text and files, sent to Stripe) is payments_app/dispute_evidence.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.invoicing.lifecycle import invoice_kind as invoice_kind_of
from breederhq.outbox import outbox_enqueue
from breederhq.tenancy import owner_context, system_read_context
from payments_app.access import owner_of
from payments_app.dispute_models import InvoiceDispute
from payments_app.ledger import object_time, record_movement
from payments_app.models import ConnectMoneyMovement, InvoicePayment, StripeWebhookEvent
from payments_app.webhook_handlers import (
    SETTLED,
    EventNotReady,
    _facts,
    _note_payment,
    _reverse,
    _target,
    handles,
    money,
)

OUTCOMES = frozenset({"won", "lost"})


def _due_by(data: dict) -> datetime | None:
    due = (data.get("evidence_details") or {}).get("due_by")
    if isinstance(due, int) and not isinstance(due, bool) and 0 < due < 253_402_300_800:
        return datetime.fromtimestamp(due, tz=UTC)
    return None


def _upsert(payment: InvoicePayment, data: dict, event: StripeWebhookEvent) -> tuple[InvoiceDispute, bool, bool]:
    """(row, created, applied): the dispute's row after this event. `applied` is False when the event
    was older than the last one applied, or would reopen a closed dispute: nothing changed then."""
    amount = money(data, "amount", required=True)
    fields = {
        "amount_cents": amount,
        "currency": (data.get("currency") or payment.currency).upper(),
        "reason": (data.get("reason") or "")[:50],
        "status": (data.get("status") or "needs_response")[:40],
        "evidence_due_by": _due_by(data),
        "stripe_charge_id": (data.get("charge") or "")[:100],
    }
    found = owner_of(InvoiceDispute, job="stripe_webhook:dispute", stripe_dispute_id=data["id"])
    with owner_context(payment.owner_tenant_id):
        rows = InvoiceDispute.objects.using(TENANT_DB)
        if found is None:
            dispute = rows.create(
                payment=payment,
                owner_tenant_id=payment.owner_tenant_id,
                invoice_kind=payment.invoice_kind,
                invoice_id=payment.invoice_id,
                stripe_dispute_id=data["id"],
                last_event_created=event.stripe_created,
                **fields,
            )
            return dispute, True, True
        dispute = rows.select_for_update().get(pk=found[0])
        older = dispute.last_event_created is not None and event.stripe_created < dispute.last_event_created
        reopening = dispute.is_closed and fields["status"] not in InvoiceDispute.CLOSED
        if older or reopening:
            return dispute, False, False
        if not fields["evidence_due_by"]:
            fields.pop("evidence_due_by")  # a closing event may leave it out: keep what we knew
        for name, value in fields.items():
            setattr(dispute, name, value)
        dispute.last_event_created = event.stripe_created
        dispute.save(using=TENANT_DB, update_fields=[*fields, "last_event_created", "updated_at"])
        return dispute, False, True


def _settle(target, dispute: InvoiceDispute) -> str:
    """A lost dispute, once: the disputed amount (at most what is still paid) leaves the invoice."""
    facts = _facts(target)
    if facts is None:
        return f"; {target.kind} invoice #{target.invoice_id} not found here"
    if facts.status not in SETTLED:
        raise EventNotReady(f"invoice {facts.number} is {facts.status}; its payment has not arrived yet")
    amount = min(dispute.amount_cents, facts.total_cents - facts.refunded_cents)
    if amount > 0:
        _reverse(
            target,
            facts,
            amount=amount,
            key=f"stripe:dispute:{dispute.stripe_dispute_id}",
            reason=f"dispute {dispute.stripe_dispute_id} lost",
            reference=dispute.stripe_dispute_id,
        )
    with owner_context(dispute.owner_tenant_id):
        dispute.settled_at = timezone.now()
        dispute.save(using=TENANT_DB, update_fields=["settled_at", "updated_at"])
    return ""


@handles(
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
def dispute_event(event: StripeWebhookEvent) -> str:
    data = event.payload["data"]["object"]
    target = _target(data)
    if target is None or target.payment is None:
        return "ignored: dispute on a payment that is not ours"
    payment, dispute_id = target.payment, data["id"]
    before = owner_of(InvoiceDispute, job="stripe_webhook:dispute", stripe_dispute_id=dispute_id)
    was = None
    if before is not None:
        with owner_context(before[1]):
            was = InvoiceDispute.objects.using(TENANT_DB).values_list("status", "closed_at").get(pk=before[0])
    if was is not None and was[1] is not None:  # closed before: nothing moves any more
        return (
            f"duplicate: dispute {dispute_id} already {was[0]}"
            if event.event_type == "charge.dispute.closed"
            else f"ignored: dispute {dispute_id} already closed ({was[0]})"
        )
    dispute, created, applied = _upsert(payment, data, event)
    if payment.connect_account_id:
        record_movement(
            kind=ConnectMoneyMovement.Kind.DISPUTE,
            object_id=dispute_id,
            event=event,
            amount=dispute.amount_cents,
            currency=dispute.currency,
            status=dispute.status,
            occurred_at=object_time(data, event),
            payment=payment,
            account=payment.connect_account_id,
            charge=dispute.stripe_charge_id,
        )
    if not applied:
        return f"ignored: dispute {dispute_id} event older than the last one applied"
    if dispute.status in OUTCOMES:
        problem = _settle(target, dispute) if dispute.status == "lost" else ""
        with owner_context(dispute.owner_tenant_id):
            dispute.closed_at = timezone.now()
            dispute.save(using=TENANT_DB, update_fields=["closed_at", "updated_at"])
        _note_payment(target, dispute_id=dispute_id, dispute_status=dispute.status)
        outbox_enqueue(
            using=TENANT_DB,
            topic="payments.dispute_closed",
            payload={"invoice_type": target.kind, "invoice_id": target.invoice_id, "won": dispute.status == "won"},
        )
        return f"dispute {dispute_id} {dispute.status}{problem}"
    if created:
        _note_payment(target, dispute_id=dispute_id, dispute_status=dispute.status)
        # The marketplace transaction lives in the other database: the outbox moves it, exactly once.
        outbox_enqueue(
            using=TENANT_DB,
            topic="payments.dispute_opened",
            payload={"invoice_type": target.kind, "invoice_id": target.invoice_id},
        )
        return f"dispute {dispute_id} opened on {target.kind} invoice #{target.invoice_id}"
    _note_payment(target, dispute_status=dispute.status)
    if event.event_type == "charge.dispute.created":
        return f"duplicate: dispute {dispute_id} already open"
    return f"dispute {dispute_id} is {dispute.status}"


# --- Reading ---------------------------------------------------------------------------------------


def invoice_dispute(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoiceDispute | None:
    """The invoice's latest dispute, read in its owner's context (one query), or None."""
    owner = invoice_kind_of(invoice_kind).payment_owner(tenant_id)
    with owner_context(owner):
        return (
            InvoiceDispute.objects.using(TENANT_DB)
            .filter(invoice_kind=invoice_kind, invoice_id=invoice_id)
            .order_by("-created_at", "-id")
            .first()
        )


def dispute_summary(dispute: InvoiceDispute | None) -> dict | None:
    """What the seller and the buyer see of a dispute on the invoice."""
    if dispute is None:
        return None
    return {
        "id": dispute.stripe_dispute_id,
        "status": dispute.status,
        "amount_cents": dispute.amount_cents,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "evidence_due_by": dispute.evidence_due_by,
        "evidence_submitted": dispute.submission == InvoiceDispute.Submission.SUBMITTED,
        "evidence_submitted_at": dispute.evidence_submitted_at,
        "closed_at": dispute.closed_at,
    }


def latest_dispute_summary(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> dict | None:
    """The core's disputes port (breederhq/invoicing/disputes.py): the invoice's latest dispute, summarised."""
    return dispute_summary(invoice_dispute(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id))


# --- Reconciliation --------------------------------------------------------------------------------


def stripe_disputes(*, page_size: int = 100) -> list[dict]:
    """Every dispute in Stripe, page by page."""
    from payments_app.stripe_gateway import call_stripe, stripe_client

    found: list[dict] = []
    params: dict = {"limit": page_size}
    while True:
        page = call_stripe("dispute.list", stripe_client().v1.disputes.list, params=params)
        found += [dispute.to_dict() for dispute in page.data]
        if not page.has_more or not page.data:
            return found
        params = {"limit": page_size, "starting_after": page.data[-1].id}


def dispute_disagreements(remote: list[dict]) -> dict[str, str]:
    """payment intent id -> what disagrees between Stripe's closed disputes and ours: a dispute Stripe
    closed that we do not know closed the same way, or a lost one whose money has not left the
    invoice here. Stripe's open disputes are still moving and are not compared."""
    closed = [d for d in remote if d.get("status") in OUTCOMES and d.get("payment_intent")]
    if not closed:
        return {}
    with system_read_context(job="reconcile_stripe"):
        local = {
            row[0]: row[1:]
            for row in InvoiceDispute.objects.using(TENANT_DB)
            .filter(stripe_dispute_id__in=[d["id"] for d in closed])
            .values_list("stripe_dispute_id", "status", "settled_at")
        }
    problems: dict[str, str] = {}
    for dispute in closed:
        status, settled_at = local.get(dispute["id"], (None, None))
        if status != dispute["status"]:
            problems[dispute["payment_intent"]] = (
                f"Stripe closed dispute {dispute['id']} as {dispute['status']}, here it is {status or 'unknown'}"
            )
        elif status == "lost" and settled_at is None:
            problems[dispute["payment_intent"]] = f"dispute {dispute['id']} lost, its money has not left the invoice"
    return problems
