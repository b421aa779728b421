"""Stripe's `charge.refunded` notification, money collected twice, and finishing requests left pending
(the worker and the sweep)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict
from breederhq.tenancy import owner_context, system_read_context
from payments_app.models import InvoicePayment, ReconciliationState, RefundRequest
from payments_app.refunds.channel import (
    Status,
    _close,
    _record_sent,
    _returned_duplicates,
    _send_and_record,
    stripe_key,
)


def refunds_in_flight(payment: InvoicePayment) -> int:
    """For `charge.refunded`: how many requests of this payment are being sent (then it waits)."""
    with owner_context(payment.owner_tenant_id):
        return RefundRequest.objects.using(TENANT_DB).filter(payment=payment, status=Status.PENDING).count()


def refunded_for_the_invoice(payment: InvoicePayment, stripe_total: int) -> int:
    """Stripe's cumulative refunded amount minus card money returned for a duplicate collection:
    what the invoice's own ledger should hold as refunded through Stripe."""
    with owner_context(payment.owner_tenant_id):
        return stripe_total - _returned_duplicates(payment)


def duplicate_collection_return(*, payment: InvoicePayment, amount_cents: int, note: str) -> RefundRequest:
    """A card payment arrived for an invoice already paid another way (called by the webhook inside
    its transaction, the payment row locked): flag it for finance and queue the money's return; a
    worker refunds it through Stripe after the commit (the sweep if that enqueue is lost)."""
    with owner_context(payment.owner_tenant_id):
        request, created = _duplicate_request(payment, amount_cents, note)
    if created:
        # Published by the background publisher after the commit (never from the caller's thread: a
        # broker that is down cannot hold it); the request stays pending and the sweep sends it if
        # the message is lost.
        from breederhq.jobs.publish_later import publish_after_commit
        from payments_app.tasks import resume_refund_request

        publish_after_commit(resume_refund_request, request.pk, request.owner_tenant_id, using=TENANT_DB)
    return request


def _duplicate_request(payment: InvoicePayment, amount_cents: int, note: str) -> tuple[RefundRequest, bool]:
    return RefundRequest.objects.using(TENANT_DB).get_or_create(
        payment=payment,
        idempotency_key=f"duplicate_collection:{payment.stripe_payment_intent_id}",
        defaults={
            "owner_tenant_id": payment.owner_tenant_id,
            "amount_cents": amount_cents,
            "currency": payment.currency,
            "purpose": RefundRequest.Purpose.DUPLICATE_COLLECTION,
            "reason": note[:500],
        },
    )


def invoice_refund_resume(*, request_pk: int, owner: int | None) -> RefundRequest:
    """Finish a pending request (the worker after a duplicate collection, or the sweep).

    A duplicate collection is sent (again): the same Stripe key gives the same refund back. A
    request from the API whose answer never came is not sent again behind the client's back: Stripe
    is asked whether it made that refund (our request id is on it); found, it is recorded; not
    found, the request is closed as failed and its amount is free again."""
    with owner_context(owner):
        request = RefundRequest.objects.using(TENANT_DB).get(pk=request_pk)
    if request.status != Status.PENDING:
        return request
    if request.purpose == RefundRequest.Purpose.REFUND:
        made = _stripe_refund_made(request)
        if made is None:
            _close(request, status=Status.FAILED, error="Stripe has no such refund: nothing was refunded")
        else:
            _record_sent(request, refund_id=made)
    else:
        try:
            _send_and_record(request)
        except Conflict:
            pass  # refused: recorded on the request, flagged below
    with owner_context(owner):
        request.refresh_from_db()
    if request.purpose == RefundRequest.Purpose.DUPLICATE_COLLECTION and request.status != Status.PENDING:
        _note_returned(request)
    return request


def _stripe_refund_made(request: RefundRequest) -> str | None:
    from payments_app.stripe_gateway import call_stripe, stripe_client

    with owner_context(request.owner_tenant_id):
        intent_id = (
            InvoicePayment.objects.using(TENANT_DB)
            .values_list("stripe_payment_intent_id", flat=True)
            .get(pk=request.payment_id)
        )
    params: dict = {"payment_intent": intent_id, "limit": 100}
    while True:
        page = call_stripe("refund.list", stripe_client().v1.refunds.list, params=params)
        for refund in page.data:
            if (refund.to_dict().get("metadata") or {}).get("breederhq_refund_key") == stripe_key(request):
                return refund.id
        if not page.has_more or not page.data:
            return None
        params = {**params, "starting_after": page.data[-1].id}


def _note_returned(request: RefundRequest) -> None:
    with transaction.atomic(using=TENANT_DB), owner_context(request.owner_tenant_id):
        payment = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=request.payment_id)
        word = {Status.SUCCEEDED: "returned", Status.REFUSED: "NOT returned (Stripe refused)"}.get(
            request.status, request.status
        )
        payment.reconciliation_status = ReconciliationState.MISMATCH
        payment.reconciliation_note = (
            f"collected twice: card payment {payment.stripe_payment_intent_id} "
            f"{word} ({request.stripe_refund_id or request.error})"
        )[:300]
        payment.save(using=TENANT_DB, update_fields=["reconciliation_status", "reconciliation_note", "updated_at"])


def invoice_refunds_pending(
    *, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None, limit: int = 200
) -> list[tuple[int, int | None]]:
    """(pk, owner) of requests left pending (a crash after Stripe answered, a lost enqueue)."""
    cutoff = (now or timezone.now()) - older_than
    with system_read_context(job="payments:refunds_pending"):
        return list(
            RefundRequest.objects.using(TENANT_DB)
            .filter(status=Status.PENDING, updated_at__lte=cutoff)
            .order_by("updated_at")
            .values_list("pk", "owner_tenant_id")[:limit]
        )
