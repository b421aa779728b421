"""Closing an invoice's card payment: cancelling the payment intent of a voided invoice (marked in
the void's transaction, cancelled by a worker after it commits, retried by the sweep), closing a
row that was never opened, and cancelling the open intent before a payment by hand is recorded, so
the buyer cannot pay twice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from django.db import transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict
from breederhq.tenancy import owner_context, system_read_context
from payments_app.models import CancelStatus, InvoicePayment, OpenState, ReconciliationState, StripeStatus
from payments_app.stripe_gateway import StripeUnavailable

logger = logging.getLogger(__name__)


def abandon_unopened(payment_pk: int, *, owner: int | None, reason: str) -> InvoicePayment:
    """Close an unopened row whose invoice will never need an intent: the sweep stops retrying it."""
    with transaction.atomic(using=TENANT_DB), owner_context(owner):
        payment = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment_pk)
        if payment.stripe_payment_intent_id or payment.open_state != OpenState.UNOPENED:
            return payment
        payment.open_state, payment.open_note = OpenState.ABANDONED, reason[:300]
        payment.save(using=TENANT_DB, update_fields=["open_state", "open_note", "updated_at"])
    logger.warning("payment intent of %s invoice %s abandoned: %s", payment.invoice_kind, payment.invoice_id, reason)
    return payment


# --- Cancelling the payment intent of a voided invoice ----------------------------------------------


def invoice_payment_cancel_requested(*, invoice_kind: str, invoice_id: int, intent_just_stored: bool = False) -> int:
    """Settle the invoice's Stripe payment after a void, in the caller's transaction on the tenant
    database (the void's own, for tenant invoices; the outbox's, for marketplace ones):
    - no intent yet: the "unopened" row is closed ("abandoned"); nothing to ask Stripe;
    - an intent: marked to be cancelled, and a worker cancels it once this commits.
    Returns how many rows were marked for cancelling (0 or 1).

    Both are single UPDATEs evaluated on the row as committed, so they serialise with
    `invoice_payment_open` storing an intent: whichever commits first, the other sees it.
    `intent_just_stored`: called by `invoice_payment_open` after it stored an intent and found the
    invoice void. A void that ran meanwhile closed the row or found nothing to cancel: ask now.
    """
    from payments_app.access import invoice_owner

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, job="payments:cancel_requested")
    with owner_context(owner):
        return _cancel_requested(
            invoice_kind=invoice_kind, invoice_id=invoice_id, intent_just_stored=intent_just_stored
        )


def _cancel_requested(*, invoice_kind: str, invoice_id: int, intent_just_stored: bool) -> int:
    rows = InvoicePayment.objects.using(TENANT_DB).filter(
        invoice_kind=invoice_kind, invoice_id=invoice_id, provider=InvoicePayment.Provider.STRIPE
    )
    now = timezone.now()
    if intent_just_stored:
        rows = rows.exclude(cancel_status__in=[CancelStatus.PENDING, CancelStatus.REFUSED])
    else:
        abandoned = rows.filter(stripe_payment_intent_id__isnull=True, open_state=OpenState.UNOPENED).update(
            open_state=OpenState.ABANDONED, open_note="invoice voided before its intent existed", updated_at=now
        )
        if abandoned:
            logger.info("%s invoice %s voided before its payment intent existed: row closed", invoice_kind, invoice_id)
        rows = rows.filter(cancel_status=CancelStatus.NONE)
    marked = (
        rows.filter(stripe_payment_intent_id__isnull=False)
        .exclude(stripe_status__in=[StripeStatus.SUCCEEDED, StripeStatus.CANCELED])
        .update(cancel_status=CancelStatus.PENDING, cancel_requested_at=now, cancel_error="", updated_at=now)
    )
    if marked:
        from breederhq.jobs.publish_later import publish_after_commit
        from payments_app.tasks import cancel_invoice_payment

        # Published off the request thread once this commits; lost (Redis down): the row stays
        # "pending" and the 5-minute sweep cancels it.
        publish_after_commit(cancel_invoice_payment, invoice_kind, invoice_id, using=TENANT_DB)
    return marked


def invoice_payment_cancel_on_void(*, invoice_kind: str, invoice_id: int, using: str) -> None:
    """Called by the invoice services inside the void's transaction on `using`. The Stripe call
    itself happens in a worker after the commit: never while the invoice row is locked."""
    if using == TENANT_DB:
        invoice_payment_cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id)
    else:
        from breederhq.outbox import outbox_enqueue

        # The payment row lives in the tenant database: the outbox marks it, exactly once, after
        # the marketplace void commits (payments_app/outbox_handlers.py).
        outbox_enqueue(
            using=using,
            topic="payments.cancel_intent",
            payload={"invoice_kind": invoice_kind, "invoice_id": invoice_id},
        )


def invoice_payment_cancel(*, invoice_kind: str, invoice_id: int) -> InvoicePayment | None:
    """Cancel the Stripe payment intent of a voided invoice (a payment row marked "pending").

    No transaction is open during the Stripe call. The idempotency key is derived from the invoice,
    so a retry after a crash or an outage is the same request to Stripe. Stripe refusing (the buyer
    paid just before the void) is recorded as "refused" for reconciliation and staff; an outage
    leaves it "pending" and raises StripeUnavailable (the sweep retries).
    """
    from payments_app.access import invoice_owner
    from payments_app.providers import StripeConnectProvider
    from payments_app.stripe_gateway import idempotency_key

    owner = invoice_owner(invoice_kind=invoice_kind, invoice_id=invoice_id, job="payments:cancel_intent")
    with owner_context(owner):
        payment = (
            InvoicePayment.objects.using(TENANT_DB).filter(invoice_kind=invoice_kind, invoice_id=invoice_id).first()
        )
    if payment is None or payment.cancel_status != CancelStatus.PENDING:
        return payment
    provider = StripeConnectProvider()
    # No intent (never opened): nothing to cancel. If `invoice_payment_open` stores one after this,
    # it sees the void and asks again.
    status, error, stripe_status = CancelStatus.CANCELED, "", None
    if payment.stripe_payment_intent_id:
        try:
            stripe_status = provider.cancel(
                payment.stripe_payment_intent_id,
                key=idempotency_key(
                    "invoice.payment_intent.cancel", invoice_kind, invoice_id, payment.stripe_payment_intent_id
                ),
            )
        except StripeUnavailable as exc:
            _save_cancel(payment.pk, owner=owner, status=CancelStatus.PENDING, error=str(exc)[:300])
            raise
        except stripe.InvalidRequestError as exc:
            stripe_status = provider.status_of(payment.stripe_payment_intent_id)
            if stripe_status != StripeStatus.CANCELED:  # already cancelled (by Stripe's own void) is what we wanted
                status, error = CancelStatus.REFUSED, f"{exc.user_message or exc}"[:300]
                logger.warning(
                    "stripe refused to cancel %s of voided %s invoice %s: %s",
                    payment.stripe_payment_intent_id,
                    invoice_kind,
                    invoice_id,
                    error,
                )
    return _save_cancel(
        payment.pk,
        owner=owner,
        status=status,
        error=error,
        stripe_status=stripe_status,
        intent_id=payment.stripe_payment_intent_id,
    )


def _save_cancel(
    payment_pk: int,
    *,
    owner: int | None,
    status: str,
    error: str,
    stripe_status: str | None = None,
    intent_id: str | None = None,
) -> InvoicePayment:
    with transaction.atomic(using=TENANT_DB), owner_context(owner):
        payment = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment_pk)
        if payment.cancel_status != CancelStatus.PENDING:
            return payment  # another worker finished it meanwhile
        if status != CancelStatus.PENDING and payment.stripe_payment_intent_id != intent_id:
            # An intent was stored after this cancel read the row: it is not cancelled yet. Stay
            # pending and go again (the sweep retries it if this enqueue is lost).
            from breederhq.jobs.publish_later import publish_after_commit
            from payments_app.tasks import cancel_invoice_payment

            publish_after_commit(cancel_invoice_payment, payment.invoice_kind, payment.invoice_id, using=TENANT_DB)
            return payment
        payment.cancel_status, payment.cancel_error = status, error
        fields = ["cancel_status", "cancel_error", "updated_at"]
        if stripe_status is not None and status != CancelStatus.PENDING:
            payment.stripe_status = stripe_status
            fields.append("stripe_status")
        if status == CancelStatus.REFUSED:
            payment.reconciliation_status = ReconciliationState.MISMATCH
            payment.reconciliation_note = f"invoice voided, intent not cancelled: {error}"[:300]
            fields += ["reconciliation_status", "reconciliation_note"]
        payment.save(using=TENANT_DB, update_fields=fields)
    return payment


def invoice_payments_cancel_pending(
    *, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None, limit: int = 500
) -> list[InvoicePayment]:
    """Cancels requested but not done (Stripe down, Redis down, worker killed): the sweep retries."""
    cutoff = (now or timezone.now()) - older_than
    with system_read_context(job="payments:cancel_pending"):  # every tenant's rows; each is written in its own
        return list(
            InvoicePayment.objects.using(TENANT_DB)
            .filter(cancel_status=CancelStatus.PENDING, cancel_requested_at__lte=cutoff)
            .order_by("cancel_requested_at")[:limit]
        )


# --- A payment by hand on a Stripe-mode invoice ------------------------------------------------------


class PaymentIntentBusy(Conflict):
    code = "payment_intent_processing"


def invoice_payment_close_for_manual(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> None:
    """Called before a payment by hand is recorded on an invoice: a Stripe-mode invoice's open
    payment intent is cancelled first, so the buyer cannot pay it a second time by card.

    - no Stripe payment row, or its intent already cancelled or succeeded: nothing to do (a card
      payment that succeeded is the invoice's payment; the invoice service says so);
    - not opened yet: the row is closed ("abandoned"), and an intent the open worker stores
      meanwhile is cancelled by it (`invoice_payment_open` sees the invoice paid);
    - processing (a bank debit under way): 409 `payment_intent_processing`, nothing recorded;
    - Stripe unreachable: 503 `stripe_unavailable`, nothing recorded.
    A card payment that still arrives is refunded automatically (webhook_handlers._collected_twice).
    """
    from breederhq.errors import Unavailable
    from payments_app.access import invoice_owner
    from payments_app.providers import StripeConnectProvider
    from payments_app.stripe_gateway import idempotency_key

    owner = invoice_owner(
        invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id, job="payments:close_for_manual"
    )
    with owner_context(owner):
        payment = (
            InvoicePayment.objects.using(TENANT_DB)
            .filter(invoice_kind=invoice_kind, invoice_id=invoice_id, provider=InvoicePayment.Provider.STRIPE)
            .first()
        )
    if payment is None or payment.stripe_status in {StripeStatus.SUCCEEDED, StripeStatus.CANCELED}:
        return
    if not payment.stripe_payment_intent_id:
        abandon_unopened(payment.pk, owner=owner, reason="paid by hand before its intent existed")
        return
    provider = StripeConnectProvider()
    intent_id = payment.stripe_payment_intent_id
    try:
        status = provider.status_of(intent_id)
        if status not in {StripeStatus.PROCESSING, StripeStatus.SUCCEEDED, StripeStatus.CANCELED}:
            try:
                status = provider.cancel(
                    intent_id, key=idempotency_key("invoice.payment_intent.cancel", invoice_kind, invoice_id, intent_id)
                )
            except stripe.InvalidRequestError:
                status = provider.status_of(intent_id)  # it moved on meanwhile: say what it is now
    except StripeUnavailable as exc:
        raise Unavailable(
            "Stripe cannot be reached to cancel the invoice's card payment; nothing was recorded. "
            f"Retry later. ({exc})",
            code="stripe_unavailable",
        ) from exc
    if status == "processing":
        raise PaymentIntentBusy(
            "The buyer's card or bank payment of this invoice is being processed; a payment "
            "by hand is not recorded meanwhile. Wait for it to succeed or fail.",
            extra={"payment_intent": intent_id},
        )
    if status == StripeStatus.SUCCEEDED:
        raise Conflict(
            "The buyer has paid this invoice by card; it is marked paid as soon as Stripe says so. "
            "A payment by hand is not recorded.",
            code="paid_by_card",
            extra={"payment_intent": intent_id},
        )
    with transaction.atomic(using=TENANT_DB), owner_context(owner):
        InvoicePayment.objects.using(TENANT_DB).filter(pk=payment.pk).update(
            stripe_status=status,
            cancel_status=CancelStatus.CANCELED,
            cancel_requested_at=timezone.now(),
            open_note="intent cancelled: paid by hand",
            updated_at=timezone.now(),
        )
