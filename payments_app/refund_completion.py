"""Finishing a marketplace card refund whose local record a crash cut in two.

A card refund of a marketplace invoice is recorded in two databases once Stripe accepted it: the
refund request and the payment row (tenant database), and the invoice's refunded amount (marketplace
database, keyed by the Stripe refund id: marketplace_app/invoice_refunds.py). An API request runs
inside its own marketplace transaction (the Idempotency-Key's), which commits *after* the tenant
side: a process dying in between would leave the request "succeeded" and the invoice without it.

So the tenant transaction that marks the request succeeded also writes the outbox message
`payments.refund_recorded` (applied in the marketplace database, once). Whoever comes next finishes
the record, each through the same idempotent service call:

- the relay applies the message;
- the client's retry with the same Idempotency-Key applies it at once if it is not applied yet
  (`complete_unapplied`), so the answer already shows the refund;
- Stripe's `refund.created` / `refund.updated` webhook finds the request by the key we put in the
  refund's metadata: a request still pending (the crash came before any local commit) is recorded
  (`refunds._record_sent`), a succeeded one is completed like a retry;
- `charge.refunded` waits (retried) while such a message is unapplied, since its cumulative total
  would otherwise count the same money without its refund id.
"""

from __future__ import annotations

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import OutboxMessage
from breederhq.outbox import outbox_enqueue
from breederhq.tenancy import owner_context
from payments_app.models import InvoiceKind, InvoicePayment, RefundRequest

TOPIC = "payments.refund_recorded"
UNAPPLIED = (OutboxMessage.Status.PENDING, OutboxMessage.Status.STUCK)


def record_marketplace_refund(payload: dict) -> bool:
    """The effect, idempotent on the Stripe refund id (the outbox handler, a retry, the webhook).
    Returns whether it added the refund (False: recorded before)."""
    from marketplace_app.models import MarketplaceInvoiceRefund
    from marketplace_app.services import marketplace_invoice_refund

    if (
        MarketplaceInvoiceRefund.objects.using(MARKETPLACE_DB)
        .filter(stripe_refund_id=payload["stripe_refund_id"])
        .exists()
    ):
        return False
    marketplace_invoice_refund(
        invoice_id=payload["invoice_id"],
        amount_cents=payload["amount_cents"],
        stripe_refund_id=payload["stripe_refund_id"],
        actor_id=payload.get("actor_id"),
    )
    return True  # or recorded meanwhile: the service re-checks under the invoice's lock


def enqueue_marketplace_record(
    *, request: RefundRequest, payment: InvoicePayment, refund_id: str, actor_id=None
) -> None:
    """In the tenant transaction that marks `request` succeeded (its marketplace record follows)."""
    outbox_enqueue(
        using=TENANT_DB,
        topic=TOPIC,
        payload={
            "refund_request_id": request.pk,
            "payment_id": payment.pk,
            "invoice_id": payment.invoice_id,
            "amount_cents": request.amount_cents,
            "stripe_refund_id": refund_id,
            "actor_id": actor_id,
        },
    )


def _unapplied(**payload_filter):
    return OutboxMessage.objects.using(TENANT_DB).filter(
        topic=TOPIC, status__in=UNAPPLIED, **{f"payload__{k}": v for k, v in payload_filter.items()}
    )


def complete_unapplied(request: RefundRequest) -> bool:
    """A succeeded request whose marketplace record may be missing: record it now (idempotent) if
    its message is not applied yet. Returns whether it was missing."""
    message = _unapplied(refund_request_id=request.pk).order_by("pk").first()
    return message is not None and record_marketplace_refund(message.payload)


def records_unapplied(payment: InvoicePayment) -> bool:
    """For `charge.refunded`: a refund of this payment is recorded here and not yet on the invoice
    (its message unapplied and no row for its refund id there: the usual case, recorded in the same
    request, does not wait)."""
    from marketplace_app.models import MarketplaceInvoiceRefund

    if payment.invoice_kind != InvoiceKind.MARKETPLACE:
        return False
    refund_ids = set(_unapplied(payment_id=payment.pk).values_list("payload__stripe_refund_id", flat=True))
    if not refund_ids:
        return False
    recorded = set(
        MarketplaceInvoiceRefund.objects.using(MARKETPLACE_DB)
        .filter(stripe_refund_id__in=refund_ids)
        .values_list("stripe_refund_id", flat=True)
    )
    return bool(refund_ids - recorded)


def refund_event_complete(data: dict) -> str:
    """A `refund.*` event: finish the request it answers, if one of ours is left unfinished."""
    from payments_app.access import locate
    from payments_app.refunds import _record_sent, stripe_key

    key = (data.get("metadata") or {}).get("breederhq_refund_key")
    if not key:
        return f"ignored: refund {data['id']} was not asked for through the API"
    if data.get("status") != "succeeded":
        return f"ignored: refund {data['id']} is {data.get('status')}"
    payment = locate(
        InvoicePayment,
        job="stripe_webhook:refund",
        lock=False,
        stripe_payment_intent_id=data.get("payment_intent") or "",
    )
    if payment is None:
        return f"ignored: no local payment for refund {data['id']}"
    with owner_context(payment.owner_tenant_id):
        candidates = list(
            RefundRequest.objects.using(TENANT_DB).filter(
                payment=payment,
                purpose=RefundRequest.Purpose.REFUND,
                status__in=[RefundRequest.Status.PENDING, RefundRequest.Status.SUCCEEDED],
            )
        )
    request = next((r for r in candidates if stripe_key(r) == key), None)
    if request is None:
        return f"ignored: refund {data['id']} answers no open request"
    if request.status == RefundRequest.Status.PENDING:
        _record_sent(request, refund_id=data["id"])
        return f"refund {data['id']} recorded (request #{request.pk} was left pending)"
    if complete_unapplied(request):
        return f"refund {data['id']} completed on the invoice (request #{request.pk})"
    return f"ignored: refund {data['id']} already recorded (request #{request.pk})"
