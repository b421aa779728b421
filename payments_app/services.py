"""Payments writes: the Stripe webhook inbox and its processing (DESIGN section 7), and collecting
invoices through a payment provider (Stripe payment intents, manual fallback)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from breederhq.errors import Conflict, DomainError, NotFound
from breederhq.observability.metrics import WEBHOOK_EVENTS
from breederhq.tenancy import tenant_context
from payments_app.models import InvoiceKind, InvoicePayment, StripeWebhookEvent
from payments_app.stripe_gateway import StripeUnavailable
from payments_app.webhook_handlers import HANDLERS

logger = logging.getLogger(__name__)


class WebhookSignatureInvalid(DomainError):
    status = 400
    code = "webhook_signature_invalid"
    title = "Webhook signature invalid"


@dataclass(frozen=True)
class ReceivedEvent:
    event: StripeWebhookEvent
    duplicate: bool


def _enqueue_processing(event_pk: int) -> None:
    from payments_app.tasks import process_stripe_event

    try:
        process_stripe_event.delay(event_pk)
    except Exception:  # Redis down: the event is safe in the inbox; the beat sweep picks it up
        logger.exception("could not enqueue stripe event %s; the retry sweep will process it", event_pk)


def stripe_event_receive(*, payload: bytes, signature_header: str | None) -> ReceivedEvent:
    """Verify a webhook delivery and store it in the inbox. Processing is enqueued after commit.

    The signature is checked over the raw body exactly as received, with the SDK's default
    tolerance (300 s), so a replay of an old delivery is refused.
    """
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, settings.STRIPE_WEBHOOK_SECRET
        ).to_dict()
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureInvalid(f"Stripe-Signature does not verify: {exc.user_message or exc}") from exc
    except ValueError as exc:
        raise WebhookSignatureInvalid(f"The payload is not a Stripe event: {exc}") from exc

    data_object = (event.get("data") or {}).get("object") or {}
    fields = {
        "event_type": event["type"],
        "stripe_account_id": event.get("account") or "",
        "livemode": bool(event.get("livemode")),
        "stripe_created": datetime.fromtimestamp(event["created"], tz=UTC),
        "object_id": str(data_object.get("id", ""))[:100],
        "payload": event,
        "next_attempt_at": timezone.now(),
    }
    with transaction.atomic(using="default"):
        try:
            with transaction.atomic(using="default"):
                stored = StripeWebhookEvent.objects.using("default").create(stripe_event_id=event["id"], **fields)
            duplicate = False
        except IntegrityError:
            stored = StripeWebhookEvent.objects.using("default").select_for_update().get(stripe_event_id=event["id"])
            duplicate = True
            if stored.status == StripeWebhookEvent.Status.FAILED:
                # Stripe delivered it again: try now rather than waiting for the backoff.
                stored.next_attempt_at = timezone.now()
                stored.save(using="default", update_fields=["next_attempt_at"])
        if stored.status in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
            transaction.on_commit(lambda: _enqueue_processing(stored.pk), using="default")
    return ReceivedEvent(stored, duplicate)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, capped at six hours."""
    ceiling = min(settings.STRIPE_WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def stripe_event_process(*, event_pk: int) -> StripeWebhookEvent | None:
    """Apply one inbox event. Safe to call any number of times, from any number of workers.

    1. Count the attempt in its own committed transaction, so a worker killed mid-event still counts
       and a poison event cannot loop forever.
    2. Lock the event, run its handler and mark it succeeded in one transaction: the effect and the
       "done" mark commit together or not at all.
    3. On failure, record the error and the next attempt (or dead-letter it) in a fresh transaction.
    """
    with transaction.atomic(using="default"):
        event = (
            StripeWebhookEvent.objects.using("default").select_for_update(skip_locked=True)
            .filter(pk=event_pk).first()
        )
        if event is None:
            return None  # another worker holds it, or it does not exist
        if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
            return event  # succeeded, ignored or dead: processed before
        if event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
            event.status = StripeWebhookEvent.Status.DEAD
            event.next_attempt_at = None
            event.save(using="default", update_fields=["status", "next_attempt_at"])
            return event
        event.attempts += 1
        event.save(using="default", update_fields=["attempts"])

    try:
        with transaction.atomic(using="default"):
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
            if event.status not in {StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED}:
                return event
            handler = HANDLERS.get(event.event_type)
            if handler is None:
                event.status = StripeWebhookEvent.Status.IGNORED
                event.outcome = "no handler for this event type"
            else:
                event.outcome = (handler(event) or "")[:300]
                event.status = StripeWebhookEvent.Status.SUCCEEDED
            event.last_error = ""
            event.next_attempt_at = None
            event.processed_at = timezone.now()
            event.save(using="default")
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event
    except Exception as exc:
        logger.exception("stripe event %s failed", event_pk)
        with transaction.atomic(using="default"):
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if event.attempts >= settings.STRIPE_WEBHOOK_MAX_ATTEMPTS:
                event.status = StripeWebhookEvent.Status.DEAD
                event.next_attempt_at = None
            else:
                event.status = StripeWebhookEvent.Status.FAILED
                event.next_attempt_at = timezone.now() + retry_delay(event.attempts)
            event.save(using="default", update_fields=["last_error", "status", "next_attempt_at"])
        WEBHOOK_EVENTS.labels(event.event_type, event.status).inc()
        return event


def stripe_events_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Ids of events waiting to be (re)processed now: failed ones past their backoff, and received
    ones whose enqueue was lost (Redis down at the time, worker killed)."""
    now = now or timezone.now()
    return list(
        StripeWebhookEvent.objects.using("default")
        .filter(status__in=[StripeWebhookEvent.Status.RECEIVED, StripeWebhookEvent.Status.FAILED],
                next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def stripe_event_requeue(*, event_pk: int) -> StripeWebhookEvent:
    """Support staff: give a dead-lettered (or failed) event a fresh set of attempts, now."""
    with transaction.atomic(using="default"):
        try:
            event = StripeWebhookEvent.objects.using("default").select_for_update().get(pk=event_pk)
        except StripeWebhookEvent.DoesNotExist:
            raise NotFound(f"No Stripe event #{event_pk}.") from None
        if event.status in {StripeWebhookEvent.Status.SUCCEEDED, StripeWebhookEvent.Status.IGNORED}:
            return event
        event.status = StripeWebhookEvent.Status.FAILED
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.save(using="default", update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _enqueue_processing(event.pk), using="default")
    return event


# --- Collecting invoices through a provider ---------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFacts:
    """What paying an invoice needs to know, read in the invoice's own database (and tenant)."""

    kind: str
    invoice_id: int
    tenant_id: int | None
    provider_id: int | None
    number: str
    status: str
    payment_mode: str
    total_cents: int
    refunded_cents: int
    currency: str


def invoice_facts(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoiceFacts | None:
    from marketplace_app.models import MarketplaceInvoice
    from tenant_app.models import Invoice

    if invoice_kind == InvoiceKind.TENANT:
        if tenant_id is None:
            return None
        with tenant_context(tenant_id):
            invoice = Invoice.all_objects.filter(pk=invoice_id).first()
        if invoice is None:
            return None
        return InvoiceFacts(invoice_kind, invoice.pk, invoice.tenant_id, None, invoice.invoice_number, invoice.status,
                            invoice.payment_mode_snapshot, invoice.total_cents, invoice.refunded_cents, invoice.currency)
    invoice = MarketplaceInvoice.objects.using("marketplace").filter(pk=invoice_id).first()
    if invoice is None:
        return None
    return InvoiceFacts(invoice_kind, invoice.pk, None, invoice.provider_id, invoice.number, invoice.status,
                        invoice.payment_mode_snapshot, invoice.total_cents, invoice.refunded_cents, invoice.currency)


def invoice_payment_record_fallback(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, reason: str,
                                    amount_cents: int, currency: str, connect_account_id: str = "") -> InvoicePayment:
    """Record that a new invoice fell back from Stripe to manual payment (the visible flag).

    Called by invoice creation (tenant: inside its transaction; marketplace: after its commit).
    """
    with transaction.atomic(using="default"):
        payment, created = InvoicePayment.objects.using("default").get_or_create(
            invoice_kind=invoice_kind, invoice_id=invoice_id,
            defaults={"owner_tenant_id": tenant_id, "provider": InvoicePayment.Provider.MANUAL,
                      "fallback_reason": reason, "amount_cents": amount_cents, "currency": currency,
                      "connect_account_id": connect_account_id},
        )
        if created and tenant_id is not None:
            _email_fallback_notice(tenant_id=tenant_id, invoice_id=invoice_id, reason=reason)
    logger.warning("%s invoice %s created in manual mode: stripe fallback (%s)", invoice_kind, invoice_id, reason)
    return payment


def _email_fallback_notice(*, tenant_id: int, invoice_id: int, reason: str) -> None:
    """Tell the tenant's owners and admins, in the same transaction as the fallback record."""
    from breederhq.email import email_enqueue
    from tenant_app.models import Invoice, TenantMembership

    with tenant_context(tenant_id):
        invoice = Invoice.all_objects.select_related("tenant").get(pk=invoice_id)
        to = sorted(TenantMembership.objects.filter(role__in=["owner", "admin"]).exclude(user__email="")
                    .values_list("user__email", flat=True))
        if to:
            email_enqueue(using="default", event_key=f"stripe_fallback:tenant:{invoice_id}",
                          template="stripe_fallback_notice", to=to,
                          context={"tenant": invoice.tenant.name, "invoice_number": invoice.invoice_number,
                                   "reason": reason.replace("_", " ")})


def invoice_payment_open(*, invoice_kind: str, invoice_id: int, tenant_id: int | None = None) -> InvoicePayment:
    """Create the Stripe payment intent of a sent, Stripe-mode invoice: at most one, ever.

    The row is claimed first (unique per invoice) and committed; the Stripe call runs with no
    transaction open, under an idempotency key derived from the invoice, so a crash between the call
    and the save, or two workers at once, end with the same single payment intent. Raises
    StripeUnavailable on an outage (the caller retries later).
    """
    from payments_app.providers import PaymentRequest, StripeConnectProvider, application_fee_cents, connect_account_for

    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if facts is None:
        raise NotFound(f"No {invoice_kind} invoice #{invoice_id}.")
    existing = InvoicePayment.objects.using("default").filter(invoice_kind=invoice_kind, invoice_id=invoice_id).first()
    if existing is not None and (existing.stripe_payment_intent_id or existing.provider != InvoicePayment.Provider.STRIPE):
        return existing
    if facts.payment_mode != "stripe":
        raise Conflict(f"Invoice {facts.number} is paid {facts.payment_mode}ly, not through Stripe.",
                       code="payment_mode_mismatch")
    if facts.status != "sent":
        raise Conflict(f"Invoice {facts.number} is {facts.status}; only a sent invoice is put on Stripe.",
                       code="invoice_not_sent")
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    if account is None or not account.can_take_payments:
        raise Conflict("The Stripe Connect account cannot take payments.", code="stripe_account_unusable")
    with transaction.atomic(using="default"):
        payment, _ = InvoicePayment.objects.using("default").get_or_create(
            invoice_kind=invoice_kind, invoice_id=invoice_id,
            defaults={"owner_tenant_id": facts.tenant_id, "provider": InvoicePayment.Provider.STRIPE,
                      "amount_cents": facts.total_cents, "currency": facts.currency,
                      "application_fee_cents": application_fee_cents(facts.total_cents),
                      "connect_account_id": account.stripe_account_id},
        )
    if payment.stripe_payment_intent_id or payment.provider != InvoicePayment.Provider.STRIPE:
        return payment
    result = StripeConnectProvider().execute(PaymentRequest(
        invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=facts.tenant_id, amount_cents=payment.amount_cents,
        currency=payment.currency, connect_account_id=payment.connect_account_id,
        description=f"Invoice {facts.number}", metadata=payment.metadata(),
    ))
    with transaction.atomic(using="default"):
        payment = InvoicePayment.objects.using("default").select_for_update().get(pk=payment.pk)
        if not payment.stripe_payment_intent_id:
            payment.stripe_payment_intent_id = result.matching_id
            payment.stripe_status = result.status
            payment.save(using="default", update_fields=["stripe_payment_intent_id", "stripe_status", "updated_at"])
    return payment


def invoice_payment_open_on_commit(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, using: str) -> None:
    """Called by `invoice_send` inside its transaction: once the invoice is sent for sure, a worker
    creates its Stripe payment intent (no Stripe call inside the send's transaction and locks)."""

    def enqueue():
        from payments_app.tasks import open_invoice_payment

        try:
            open_invoice_payment.delay(invoice_kind, invoice_id, tenant_id)
        except Exception:  # Redis down: `manage.py`/admin or the next send retry opens it later
            logger.exception("could not enqueue the payment intent of %s invoice %s", invoice_kind, invoice_id)

    transaction.on_commit(enqueue, using=using)


def invoice_payments_unopened(*, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None,
                              limit: int = 500) -> list[InvoicePayment]:
    """Stripe payments claimed but never given their intent (Stripe was down, the worker died):
    the beat sweep opens them again, under the same idempotency key."""
    cutoff = (now or timezone.now()) - older_than
    return list(
        InvoicePayment.objects.using("default")
        .filter(provider=InvoicePayment.Provider.STRIPE, stripe_payment_intent_id__isnull=True, created_at__lte=cutoff)
        .order_by("pk")[:limit]
    )
