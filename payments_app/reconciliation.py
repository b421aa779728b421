"""Reconciliation with Stripe (nightly beat and `manage.py reconcile_stripe`).

Lists every payment intent in Stripe through the SDK, a page at a time (each page through the
breaker), and compares it with our InvoicePayment rows and the invoices they collect:
- synced: Stripe and we agree (amount, currency, paid or not);
- mismatch: both exist but disagree;
- missing_remote: we hold a payment intent id Stripe does not know;
- missing_local: Stripe holds a payment intent for one of our invoices that we have no record of.
The payment row and the invoice (tenant or marketplace) both take the state found (the one set of
breederhq/reconciliation.py); an invoice staff marked `resolved` stays so until it is synced again.
Each disagreement is a ReconciliationItem of the run, readable in admin. No lock is held while
Stripe is called: pages are fetched first, then rows are updated one short transaction each.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import NotFound
from breederhq.invoicing.lifecycle import invoice_kind
from breederhq.invoicing.status import SETTLED
from breederhq.reconciliation import DISAGREEMENTS, ReconciliationStatus
from breederhq.tenancy import owner_context, system_read_context
from payments_app.disputes import dispute_disagreements, stripe_disputes
from payments_app.models import (
    InvoiceKind,
    InvoicePayment,
    ReconciliationItem,
    ReconciliationRun,
    ReconciliationState,
    RefundRequest,
)
from payments_app.stripe_gateway import call_stripe, stripe_client

logger = logging.getLogger(__name__)
PAGE_SIZE = 100
PAID_LOCALLY = SETTLED


def stripe_payment_intents(*, page_size: int = PAGE_SIZE) -> dict[str, dict]:
    """Every payment intent in Stripe, by id, fetched page by page (`starting_after`)."""
    intents: dict[str, dict] = {}
    params: dict = {"limit": page_size}
    while True:
        page = call_stripe("payment_intent.list", stripe_client().v1.payment_intents.list, params=params)
        for intent in page.data:
            intents[intent.id] = intent.to_dict()
        if not page.has_more or not page.data:
            return intents
        params = {"limit": page_size, "starting_after": page.data[-1].id}


def stripe_refunded_by_intent(*, page_size: int = PAGE_SIZE) -> dict[str, int]:
    """What Stripe has refunded (succeeded or pending refunds), summed per payment intent."""
    totals: dict[str, int] = {}
    params: dict = {"limit": page_size}
    while True:
        page = call_stripe("refund.list", stripe_client().v1.refunds.list, params=params)
        for refund in page.data:
            data = refund.to_dict()
            if data.get("payment_intent") and data.get("status") in {"succeeded", "pending"}:
                totals[data["payment_intent"]] = totals.get(data["payment_intent"], 0) + int(data["amount"])
        if not page.has_more or not page.data:
            return totals
        params = {"limit": page_size, "starting_after": page.data[-1].id}


def _refund_disagreement(payment: InvoicePayment, refunded_remote: int, duplicates: set[int]) -> str:
    """'' when what Stripe refunded on this intent is what we recorded, else the disagreement."""
    if payment.pk in duplicates:
        return payment.reconciliation_note or (
            f"collected twice: card payment {payment.stripe_payment_intent_id} on an invoice paid another way"
        )
    if refunded_remote != payment.refunded_cents:
        return (
            f"Stripe refunded {refunded_remote} on {payment.stripe_payment_intent_id}, "
            f"we recorded {payment.refunded_cents}"
        )
    return ""


def _local_statuses(keys: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, int, str, str, int | None]]:
    """(kind, id) -> (status, total_cents, currency, reconciliation_status, tenant id) for these
    invoices, one read per kind (its adapter's)."""
    wanted: dict[str, list[int]] = {}
    for kind, invoice_id in keys:
        wanted.setdefault(kind, []).append(invoice_id)
    result = {}
    for kind, invoice_ids in wanted.items():
        for pk, row in invoice_kind(kind).reconciliation_rows(invoice_ids).items():
            result[(kind, pk)] = row
    return result


def _replaced(intent: dict, keys_with_rows: set[tuple[str, int]]) -> bool:
    metadata = intent.get("metadata") or {}
    invoice_id = metadata.get("breederhq_invoice_id") or ""
    return invoice_id.isdigit() and (metadata.get("breederhq_invoice_kind"), int(invoice_id)) in keys_with_rows


def _compare(payment: InvoicePayment, remote: dict | None, local: tuple | None) -> tuple[str, str]:
    if remote is None:
        return ReconciliationState.MISSING_REMOTE, f"payment intent {payment.stripe_payment_intent_id} not in Stripe"
    if local is None:
        return ReconciliationState.MISSING_LOCAL, f"{payment.invoice_kind} invoice #{payment.invoice_id} not found here"
    status, total, currency = local[:3]
    # The intent asks for what was due when it was made: the total, or the balance of a tenant
    # invoice partly paid by hand (payments_app/card_payments.py): the payment row's amount.
    if (
        remote["amount"] != payment.amount_cents
        or payment.amount_cents > total
        or remote["currency"].upper() != currency
    ):
        return ReconciliationState.MISMATCH, (
            f"Stripe {remote['amount']} {remote['currency'].upper()}, invoice {total} {currency}"
        )
    paid_remote = remote["status"] == "succeeded"
    if paid_remote != (status in PAID_LOCALLY):
        return ReconciliationState.MISMATCH, f"Stripe says {remote['status']}, invoice is {status}"
    return ReconciliationState.SYNCED, ""


def _set_invoice_state(local: dict, kind: str, invoice_id: int, state: str, note: str) -> None:
    """Give the invoice the state found, through its own service (tenant: audited). Unchanged states
    write nothing; an invoice staff resolved stays resolved while it still disagrees."""
    invoice = local.get((kind, invoice_id))
    if invoice is None:
        return  # not here: the payment row / report item says missing_local
    current, tenant_id = invoice[3], invoice[4]
    local[(kind, invoice_id)] = (*invoice[:3], state, tenant_id)  # a later intent of the same invoice sees it
    if current == state or (current == ReconciliationStatus.RESOLVED and state in DISAGREEMENTS):
        return
    try:
        invoice_kind(kind).set_reconciliation_status(
            invoice_id, tenant_id=tenant_id, status=state, note=note, actor_label="system:reconcile_stripe"
        )
    except NotFound:
        logger.warning("reconciliation: %s invoice %s vanished before it could be marked %s", kind, invoice_id, state)


def stripe_reconcile(*, trigger: str = "beat", page_size: int = PAGE_SIZE) -> ReconciliationRun:
    """Compare everything once; returns the run with its counts (items hold the disagreements)."""
    run = ReconciliationRun.objects.using(TENANT_DB).create(trigger=trigger)
    try:
        remote = stripe_payment_intents(page_size=page_size)
        refunded_remote = stripe_refunded_by_intent(page_size=page_size)
        # Closed disputes: a lost one is money gone like a refund (payments_app/disputes.py).
        dispute_problems = dispute_disagreements(stripe_disputes(page_size=page_size))
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save(using=TENANT_DB, update_fields=["error", "finished_at"])
        logger.error("stripe reconciliation could not list Stripe: %s", exc)
        raise
    with system_read_context(job="reconcile_stripe"):  # every tenant's payments; each written in its owner's context
        payments = list(
            InvoicePayment.objects.using(TENANT_DB)
            .filter(provider=InvoicePayment.Provider.STRIPE)
            .exclude(stripe_payment_intent_id=None)
            .order_by("pk")
        )
    with system_read_context(job="reconcile_stripe"):  # card payments returned as collected twice
        duplicates = set(
            RefundRequest.objects.using(TENANT_DB)
            .filter(purpose=RefundRequest.Purpose.DUPLICATE_COLLECTION)
            .values_list("payment_id", flat=True)
        )
    unknown = {
        intent_id: intent
        for intent_id, intent in remote.items()
        if (intent.get("metadata") or {}).get("breederhq_invoice_kind") in InvoiceKind.values
    }
    keys = {(p.invoice_kind, p.invoice_id) for p in payments}
    keys_with_rows = set(keys)
    for intent in unknown.values():
        invoice_id = (intent.get("metadata") or {}).get("breederhq_invoice_id") or ""
        if invoice_id.isdigit():
            keys.add((intent["metadata"]["breederhq_invoice_kind"], int(invoice_id)))
    local = _local_statuses(sorted(keys))
    counts = {state: 0 for state in ReconciliationState.values}
    known = set()
    now = timezone.now()
    for payment in payments:
        known.add(payment.stripe_payment_intent_id)
        state, note = _compare(
            payment, remote.get(payment.stripe_payment_intent_id), local.get((payment.invoice_kind, payment.invoice_id))
        )
        if state == ReconciliationState.SYNCED:
            refund_problem = _refund_disagreement(
                payment, refunded_remote.get(payment.stripe_payment_intent_id, 0), duplicates
            )
            refund_problem = refund_problem or dispute_problems.get(payment.stripe_payment_intent_id, "")
            if refund_problem:
                state, note = ReconciliationState.MISMATCH, refund_problem
        counts[state] += 1
        with transaction.atomic(using=TENANT_DB):
            with owner_context(payment.owner_tenant_id):
                InvoicePayment.objects.using(TENANT_DB).filter(pk=payment.pk).update(
                    reconciliation_status=state, reconciliation_note=note[:300], reconciled_at=now, updated_at=now
                )
            if state != ReconciliationState.SYNCED:
                intent = remote.get(payment.stripe_payment_intent_id) or {}
                ReconciliationItem.objects.using(TENANT_DB).create(
                    run=run,
                    status=state,
                    invoice_kind=payment.invoice_kind,
                    invoice_id=payment.invoice_id,
                    tenant_id_hint=payment.owner_tenant_id,
                    stripe_object_id=payment.stripe_payment_intent_id,
                    local_amount_cents=payment.amount_cents,
                    remote_amount_cents=intent.get("amount"),
                    detail=note[:300],
                )
        _set_invoice_state(local, payment.invoice_kind, payment.invoice_id, state, note)
    for intent_id, intent in unknown.items():  # only intents carrying our metadata: others are not ours
        if intent_id in known:
            continue
        if intent.get("status") == "canceled" and _replaced(intent, keys_with_rows):
            continue  # replaced by the invoice's current intent (card_payments._replace): no money, nothing to do
        metadata = intent["metadata"]
        counts[ReconciliationState.MISSING_LOCAL] += 1
        tenant = metadata.get("breederhq_tenant_id")
        invoice_id = metadata.get("breederhq_invoice_id") or ""
        if invoice_id.isdigit():
            _set_invoice_state(
                local,
                metadata["breederhq_invoice_kind"],
                int(invoice_id),
                ReconciliationState.MISSING_LOCAL,
                f"Stripe has payment intent {intent_id} we have no record of",
            )
        ReconciliationItem.objects.using(TENANT_DB).create(
            run=run,
            status=ReconciliationState.MISSING_LOCAL,
            invoice_kind=metadata["breederhq_invoice_kind"],
            invoice_id=int(metadata.get("breederhq_invoice_id") or 0) or None,
            tenant_id_hint=int(tenant) if tenant else None,
            stripe_object_id=intent_id,
            remote_amount_cents=intent.get("amount"),
            detail=f"Stripe has payment intent {intent_id} ({intent.get('status')}) we have no record of",
        )
    run.remote_objects, run.local_payments = len(remote), len(payments)
    run.synced, run.mismatch = counts["synced"], counts["mismatch"]
    run.missing_remote, run.missing_local = counts["missing_remote"], counts["missing_local"]
    run.finished_at = timezone.now()
    run.save(using=TENANT_DB)
    return run
