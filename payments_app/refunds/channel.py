"""A refund through the channel that took the money: reserve the request, send it to Stripe (or
record a manual refund), record it on the invoice."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import stripe
from django.db import transaction
from django.db.models import Sum
from django.dispatch import Signal
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict, NotFound, Unavailable, ValidationFailed
from breederhq.invoicing.lifecycle import invoice_kind as invoice_kind_of
from breederhq.invoicing.status import REFUNDABLE
from breederhq.money import check_amount
from breederhq.tenancy import owner_context
from payments_app.models import InvoicePayment, RefundRequest, StripeStatus
from payments_app.stripe_gateway import StripeUnavailable

logger = logging.getLogger(__name__)

Status = RefundRequest.Status
Channel = InvoicePayment.Provider  # the channel a refund goes back through: Stripe or by hand

#: Sent at "refund.accepted" (Stripe accepted, nothing recorded yet) and "refund.recorded" (the
#: tenant side committed; an API request's marketplace transaction is still open). Tests inject
#: crashes through it (tests/crossdb_app/faults.py); nothing in production listens.
refund_step = Signal()


def _step(step: str, request: RefundRequest) -> None:
    refund_step.send(sender=RefundRequest, step=step, request=request)


@dataclass(frozen=True)
class RefundOutcome:
    """What actually happened, for the answer to the client."""

    channel: str  # "stripe" or "manual"
    amount_cents: int
    stripe_refund_id: str | None
    #: The domain's record of it (tenant: the CreditNote; marketplace: the invoice).
    record: object
    replayed: bool = False


def card_payment(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoicePayment | None:
    """The invoice's Stripe payment row when a card payment took its money (the intent succeeded and
    settled the invoice), else None: the money came by hand and goes back by hand."""
    with owner_context(invoice_kind_of(invoice_kind).payment_owner(tenant_id)):
        payment = (
            InvoicePayment.objects.using(TENANT_DB)
            .filter(
                invoice_kind=invoice_kind,
                invoice_id=invoice_id,
                provider=InvoicePayment.Provider.STRIPE,
                stripe_payment_intent_id__isnull=False,
                stripe_status=StripeStatus.SUCCEEDED,
            )
            .exclude(refund_requests__purpose=RefundRequest.Purpose.DUPLICATE_COLLECTION)
            .first()
        )
    return payment


def _facts(invoice_kind: str, invoice_id: int, tenant_id: int | None):
    facts = invoice_kind_of(invoice_kind).facts(invoice_id, tenant_id=tenant_id)
    if facts is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return facts


def _check_version(facts, expected_version: int | None) -> None:
    from breederhq.errors import VersionConflict

    if expected_version is not None and expected_version != facts.version:
        raise VersionConflict(entity=f"Invoice {facts.number}", expected=expected_version, current=facts.version)


def invoice_refund_through_channel(
    *,
    invoice_kind: str,
    invoice_id: int,
    tenant_id: int | None,
    amount_cents: int,
    key: str,
    reason: str = "",
    expected_version: int | None = None,
    actor=None,
) -> RefundOutcome:
    """Give `amount_cents` back through the channel that took the money (see the module docstring).

    `key` is the client's Idempotency-Key (scoped to this invoice); `expected_version` the version
    the client read: compared with the invoice before anything is sent, so a request made at a
    version that has changed since is 409 `version_conflict`, while two requests made at the same
    version with different keys are two refunds, each judged against what is still refundable.
    """
    check_amount("amount_cents", amount_cents, allow_zero=False)
    if not key:
        raise ValidationFailed(
            "An idempotency key is required.",
            field_errors={"Idempotency-Key": ["required"]},
            code="idempotency_key_required",
        )
    facts = _facts(invoice_kind, invoice_id, tenant_id)
    check_amount("amount_cents", amount_cents, allow_zero=False, currency=facts.currency)  # its step (KWD: ends in 0)
    payment = card_payment(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=facts.tenant_id)
    if payment is None:
        # Paid by hand (whatever the invoice's mode): given back by hand, recorded as a manual
        # refund; the invoice's service judges the amount and replays the same key under its lock.
        ledger_key = f"refund:{invoice_kind}:{invoice_id}:key:{key}"
        replay = invoice_kind_of(invoice_kind).refund_recorded(
            invoice_id, tenant_id=facts.tenant_id, ledger_key=ledger_key
        )
        if not replay:
            _check_version(facts, expected_version)
        record = _record(
            invoice_kind,
            invoice_id,
            facts.tenant_id,
            amount_cents=amount_cents,
            reason=reason,
            ledger_key=ledger_key,
            method=Channel.MANUAL,
            reference="",
            actor=actor,
        )
        return RefundOutcome(Channel.MANUAL, amount_cents, None, record, replayed=replay)
    request, replay = _reserve(
        payment,
        facts,
        key=key,
        amount_cents=amount_cents,
        reason=reason,
        expected_version=expected_version,
        actor=actor,
    )
    if replay:
        from payments_app.refund_completion import complete_unapplied

        complete_unapplied(request)  # a crash after the tenant side committed: the invoice gets it now
        return RefundOutcome(
            Channel.STRIPE, request.amount_cents, request.stripe_refund_id, _existing_record(request), replayed=True
        )
    return _send_and_record(request, actor=actor)


def _refunding(payment: InvoicePayment, *, exclude_pk: int | None = None) -> int:
    """What requests of this payment are sending right now (reserved, not recorded yet)."""
    rows = RefundRequest.objects.using(TENANT_DB).filter(payment=payment, status=Status.PENDING)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return rows.aggregate(total=Sum("amount_cents"))["total"] or 0


def _returned_duplicates(payment: InvoicePayment) -> int:
    """Card money returned because the invoice was already paid another way: never the invoice's refund."""
    return (
        RefundRequest.objects.using(TENANT_DB)
        .filter(
            payment=payment,
            purpose=RefundRequest.Purpose.DUPLICATE_COLLECTION,
            status=Status.SUCCEEDED,
        )
        .aggregate(total=Sum("amount_cents"))["total"]
        or 0
    )


def _reserve(
    payment: InvoicePayment, facts, *, key: str, amount_cents: int, reason: str, expected_version: int | None, actor
) -> tuple[RefundRequest, bool]:
    """Under the payment row's lock: replay the key's request, or judge and commit a new one."""
    owner = payment.owner_tenant_id
    with transaction.atomic(using=TENANT_DB), owner_context(owner):
        locked = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment.pk)
        existing = RefundRequest.objects.using(TENANT_DB).filter(payment=locked, idempotency_key=key).first()
        if existing is not None:
            if existing.amount_cents != amount_cents or existing.purpose != RefundRequest.Purpose.REFUND:
                raise Conflict("This idempotency key was used for a different refund.", code="idempotency_key_reused")
            if existing.status == Status.SUCCEEDED:
                return existing, True
            if existing.status == Status.PENDING:
                return existing, False  # sent before, outcome unknown: the same Stripe call again
        if existing is None:
            # The version the client read, compared with the invoice as it was when this request
            # arrived: a request made on a stale view is refused, while one that merely waited for
            # a concurrent refund (another key) is judged below against what that one left.
            _check_version(facts, expected_version)
        # Re-read under the lock: a refund recorded meanwhile is in the invoice's refunded amount.
        facts = _facts(facts.kind, facts.invoice_id, facts.tenant_id)
        if facts.status not in REFUNDABLE:
            raise Conflict(
                f"Invoice {facts.number} is {facts.status}; only a paid invoice is refunded.", code="illegal_transition"
            )
        refundable = facts.paid_cents - facts.refunded_cents - _refunding(locked)
        if amount_cents > refundable:
            raise Conflict(
                f"{amount_cents} exceeds the refundable {max(refundable, 0)} of invoice {facts.number}.",
                code="refund_exceeds_refundable",
                extra={"refundable_cents": max(refundable, 0)},
            )
        if existing is not None:  # failed or refused before: this is a new attempt, judged again
            existing.status, existing.error = Status.PENDING, ""
            existing.save(using=TENANT_DB, update_fields=["status", "error", "updated_at"])
            return existing, False
        request = RefundRequest.objects.using(TENANT_DB).create(
            payment=locked,
            owner_tenant_id=owner,
            idempotency_key=key,
            amount_cents=amount_cents,
            currency=locked.currency,
            reason=reason[:500],
            requested_by_id=getattr(actor, "pk", None),
        )
    return request, False


def _send_and_record(request: RefundRequest, *, actor=None) -> RefundOutcome:
    """Call Stripe (no transaction open), then record what Stripe accepted.

    Stripe unreachable (or no answer in time): the request stays pending, with the error, and the
    client is told nothing was recorded. It may still have reached Stripe: the client's retry with
    the same key sends the same Stripe request (same refund back), and the sweep asks Stripe
    whether it exists (`invoice_refund_settle_unknown`). Meanwhile its amount stays reserved and
    `charge.refunded` waits for it."""
    from payments_app.providers import StripeConnectProvider

    owner = request.owner_tenant_id
    with owner_context(owner):
        payment = InvoicePayment.objects.using(TENANT_DB).get(pk=request.payment_id)
    try:
        result = StripeConnectProvider().refund(
            payment.stripe_payment_intent_id,
            amount_cents=request.amount_cents,
            key=stripe_key(request),
            metadata={"breederhq_refund_key": stripe_key(request)},
        )
    except StripeUnavailable as exc:
        with owner_context(owner):
            RefundRequest.objects.using(TENANT_DB).filter(pk=request.pk, status=Status.PENDING).update(
                error=str(exc)[:300], updated_at=timezone.now()
            )
        raise Unavailable(
            f"Stripe cannot be reached; nothing was recorded. Retry with the same Idempotency-Key. ({exc})",
            code="stripe_unavailable",
        ) from exc
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc)
        _close(request, status=Status.REFUSED, error=message)
        raise Conflict(
            f"Stripe refused the refund; nothing was refunded: {message}", code="stripe_refund_refused"
        ) from exc
    _step("refund.accepted", request)
    record = _record_sent(request, refund_id=result.matching_id, actor=actor)
    _step("refund.recorded", request)
    return RefundOutcome(Channel.STRIPE, request.amount_cents, result.matching_id, record)


def _close(request: RefundRequest, *, status: str, error: str) -> None:
    with transaction.atomic(using=TENANT_DB), owner_context(request.owner_tenant_id):
        RefundRequest.objects.using(TENANT_DB).filter(pk=request.pk, status=Status.PENDING).update(
            status=status, error=error[:300], updated_at=timezone.now()
        )


def _record_sent(request: RefundRequest, *, refund_id: str, actor=None):
    """Stripe refunded it: record it once. Tenant invoices: the ledger and the request in one
    transaction. Marketplace invoices: the invoice (marketplace database) first, then the request."""
    with owner_context(request.owner_tenant_id):
        payment = InvoicePayment.objects.using(TENANT_DB).get(pk=request.payment_id)
    kind, invoice_id, tenant_id = payment.invoice_kind, payment.invoice_id, payment.owner_tenant_id
    with transaction.atomic(using=TENANT_DB), owner_context(request.owner_tenant_id):
        locked_payment = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment.pk)
        locked = RefundRequest.objects.using(TENANT_DB).select_for_update().get(pk=request.pk)
        if locked.status == Status.SUCCEEDED:
            return _existing_record(locked)
        record = None
        if locked.purpose == RefundRequest.Purpose.REFUND:
            record = _record(
                kind,
                invoice_id,
                tenant_id,
                amount_cents=locked.amount_cents,
                reason=locked.reason,
                ledger_key=f"refund_request:{locked.pk}",
                method=Channel.STRIPE,
                reference=refund_id,
                actor=actor,
            )
            if invoice_kind_of(kind).using != TENANT_DB:  # the invoice is in the other database: through the outbox
                from payments_app.refund_completion import enqueue_marketplace_record

                enqueue_marketplace_record(
                    request=locked, payment=locked_payment, refund_id=refund_id, actor_id=_marketplace_actor(actor)
                )
        locked.status, locked.stripe_refund_id, locked.error = Status.SUCCEEDED, refund_id, ""
        locked.save(using=TENANT_DB, update_fields=["status", "stripe_refund_id", "error", "updated_at"])
        locked_payment.refunded_cents += locked.amount_cents
        locked_payment.save(using=TENANT_DB, update_fields=["refunded_cents", "updated_at"])
    return record


def _record(
    kind: str,
    invoice_id: int,
    tenant_id: int | None,
    *,
    amount_cents: int,
    reason: str,
    ledger_key: str,
    method: str,
    reference: str,
    actor=None,
):
    """The refund in the invoice's own ledger, through its kind's adapter (its own refund service,
    judged under its lock). A card refund's Stripe id keys it where the kind has no ledger."""
    return invoice_kind_of(kind).refund(
        invoice_id,
        tenant_id=tenant_id,
        amount_cents=amount_cents,
        reason=reason,
        ledger_key=ledger_key,
        method=method,
        reference=reference,
        refund_id=reference if method == Channel.STRIPE and reference else None,
        actor=actor,
    )


def _marketplace_actor(actor) -> int | None:
    """A marketplace actor is the marketplace user's id (the invoice's audit row names them)."""
    return actor if isinstance(actor, int) and not isinstance(actor, bool) else None


def _existing_record(request: RefundRequest):
    with owner_context(request.owner_tenant_id):
        payment = InvoicePayment.objects.using(TENANT_DB).get(pk=request.payment_id)
    return invoice_kind_of(payment.invoice_kind).refund_record(
        payment.invoice_id, tenant_id=payment.owner_tenant_id, ledger_key=f"refund_request:{request.pk}"
    )


def stripe_key(request: RefundRequest) -> str:
    """The Stripe idempotency key of a request: derived from its payment row and the client's key
    (unique together), so a retry with the same key, even after the request row itself was rolled
    back with a failed response, asks Stripe for the very same refund."""
    digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:40]
    return f"payment:{request.payment_id}:{digest}"
