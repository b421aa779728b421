"""Collecting invoices through a provider: the fallback to manual payment when Stripe cannot be
used, the Stripe payment row written when a Stripe-mode invoice is sent, and opening its payment
intent (once, ever; a worker after the send commits, or the sweep). What the invoice says comes from
its kind's adapter (`breederhq.invoicing.lifecycle.invoice_kind(...).facts`). Cancelling an intent
is payments_app/intent_cancel.py."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict, NotFound
from breederhq.invoicing.lifecycle import InvoiceFacts
from breederhq.invoicing.lifecycle import invoice_kind as kind_of
from breederhq.invoicing.status import SETTLED, InvoiceStatus, PaymentModeSnapshot
from breederhq.tenancy import owner_context, system_read_context, tenant_context
from payments_app.intent_cancel import abandon_unopened, invoice_payment_cancel_requested
from payments_app.models import InvoicePayment, OpenState

logger = logging.getLogger(__name__)


def invoice_facts(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoiceFacts | None:
    """The invoice's facts, as its kind's adapter reads them (None: it does not exist)."""
    return kind_of(invoice_kind).facts(invoice_id, tenant_id=tenant_id)


def invoice_payment_record_fallback(
    *,
    invoice_kind: str,
    invoice_id: int,
    tenant_id: int | None,
    reason: str,
    amount_cents: int,
    currency: str,
    connect_account_id: str = "",
) -> InvoicePayment:
    """Record that a new invoice fell back from Stripe to manual payment (the visible flag).

    Called by invoice creation (tenant: inside its transaction; marketplace: after its commit).
    """
    with transaction.atomic(using=TENANT_DB), owner_context(tenant_id):
        payment, created = InvoicePayment.objects.using(TENANT_DB).get_or_create(
            invoice_kind=invoice_kind,
            invoice_id=invoice_id,
            defaults={
                "owner_tenant_id": tenant_id,
                "provider": InvoicePayment.Provider.MANUAL,
                "fallback_reason": reason,
                "amount_cents": amount_cents,
                "currency": currency,
                "connect_account_id": connect_account_id,
            },
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
        to = sorted(
            TenantMembership.objects.filter(role__in=["owner", "admin"])
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
        if to:
            email_enqueue(
                using=TENANT_DB,
                event_key=f"stripe_fallback:tenant:{invoice_id}",
                template="stripe_fallback_notice",
                to=to,
                context={
                    "tenant": invoice.tenant.name,
                    "invoice_number": invoice.invoice_number,
                    "reason": reason.replace("_", " "),
                },
            )


#: Invoice states in which no payment intent will ever be needed: an unopened row is closed.
NEVER_OPENED = frozenset({InvoiceStatus.VOID, *SETTLED})


def _payment_claim(facts: InvoiceFacts, *, connect_account_id: str) -> InvoicePayment:
    """The invoice's Stripe payment row ("unopened" until its intent id is stored), created once.
    Runs in the caller's transaction on the tenant database, in the invoice's owner's context."""
    from payments_app.providers import application_fee_cents

    with owner_context(facts.tenant_id):
        payment, created = InvoicePayment.objects.using(TENANT_DB).get_or_create(
            invoice_kind=facts.kind,
            invoice_id=facts.invoice_id,
            defaults={
                "owner_tenant_id": facts.tenant_id,
                "provider": InvoicePayment.Provider.STRIPE,
                "amount_cents": facts.total_cents,
                "currency": facts.currency,
                "application_fee_cents": application_fee_cents(facts.total_cents, facts.currency),
                "connect_account_id": connect_account_id,
                "open_state": OpenState.UNOPENED,
            },
        )
        if not created and connect_account_id and not payment.connect_account_id:
            payment.connect_account_id = connect_account_id  # onboarded after the send
            payment.save(using=TENANT_DB, update_fields=["connect_account_id", "updated_at"])
    return payment


def invoice_payment_note_open_failure(*, payment_pk: int, owner_tenant_id: int | None, reason: str) -> None:
    """The sweep could not open this row (account unusable, ...): say why, for staff, and move it to
    the back of the sweep's queue (ordered by `updated_at`) so it cannot starve the others."""
    with transaction.atomic(using=TENANT_DB), owner_context(owner_tenant_id):
        InvoicePayment.objects.using(TENANT_DB).filter(pk=payment_pk, open_state=OpenState.UNOPENED).update(
            open_note=reason[:300], updated_at=timezone.now()
        )


def invoice_payment_open(*, invoice_kind: str, invoice_id: int, tenant_id: int | None = None) -> InvoicePayment:
    """Create the Stripe payment intent of a sent, Stripe-mode invoice: at most one, ever.

    The row ("unopened", written by the send) is claimed and committed; the Stripe call runs with no
    transaction open, under an idempotency key derived from the invoice, so a crash between the call
    and the save, or two workers at once, end with the same single payment intent. An invoice voided
    or settled before any intent existed closes its row ("abandoned") instead. Raises
    StripeUnavailable on an outage (the caller retries later).
    """
    from payments_app.access import invoice_owner
    from payments_app.providers import PaymentRequest, StripeConnectProvider, connect_account_for

    owner = invoice_owner(
        invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id, job="payments:open_intent"
    )
    tenant_id = owner if kind_of(invoice_kind).tenant_owned else tenant_id
    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    with owner_context(owner):
        existing = (
            InvoicePayment.objects.using(TENANT_DB).filter(invoice_kind=invoice_kind, invoice_id=invoice_id).first()
        )
    if existing is not None and (
        existing.stripe_payment_intent_id
        or existing.provider != InvoicePayment.Provider.STRIPE
        or existing.open_state == OpenState.ABANDONED
    ):
        return existing
    if facts is None:
        if existing is not None:
            return abandon_unopened(
                existing.pk, owner=owner, reason=f"{invoice_kind} invoice #{invoice_id} no longer exists"
            )
        raise NotFound(f"No {invoice_kind} invoice #{invoice_id}.")
    if facts.payment_mode != PaymentModeSnapshot.STRIPE:
        raise Conflict(
            f"Invoice {facts.number} is paid {facts.payment_mode}ly, not through Stripe.", code="payment_mode_mismatch"
        )
    if existing is not None and facts.status in NEVER_OPENED:
        return abandon_unopened(
            existing.pk, owner=owner, reason=f"invoice {facts.number} became {facts.status} before its intent existed"
        )
    if facts.status != InvoiceStatus.SENT:
        raise Conflict(
            f"Invoice {facts.number} is {facts.status}; only a sent invoice is put on Stripe.", code="invoice_not_sent"
        )
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    if account is None or not account.can_take_payments:
        raise Conflict("The Stripe Connect account cannot take payments.", code="stripe_account_unusable")
    with transaction.atomic(using=TENANT_DB):
        payment = _payment_claim(facts, connect_account_id=account.stripe_account_id)
    if (
        payment.stripe_payment_intent_id
        or payment.provider != InvoicePayment.Provider.STRIPE
        or payment.open_state == OpenState.ABANDONED
    ):
        return payment
    result = StripeConnectProvider().execute(
        PaymentRequest(
            invoice_kind=invoice_kind,
            invoice_id=invoice_id,
            tenant_id=facts.tenant_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            connect_account_id=payment.connect_account_id,
            description=f"Invoice {facts.number}",
            metadata=payment.metadata(),
        )
    )
    with transaction.atomic(using=TENANT_DB), owner_context(owner):
        payment = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment.pk)
        if not payment.stripe_payment_intent_id:
            # Even on a row a concurrent void closed meanwhile: the intent exists in Stripe now,
            # so it is recorded, and cancelled just below.
            payment.stripe_payment_intent_id = result.matching_id
            payment.stripe_status = result.status
            payment.open_state, payment.open_note = OpenState.OPENED, ""
            payment.save(
                using=TENANT_DB,
                update_fields=["stripe_payment_intent_id", "stripe_status", "open_state", "open_note", "updated_at"],
            )
    # The invoice may have been voided while Stripe was creating the intent (the void found no
    # intent to cancel): cancel it now rather than leave a payable intent on a void invoice.
    after = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=facts.tenant_id)
    if after is None or after.status in NEVER_OPENED:  # voided, or paid by hand, meanwhile
        with transaction.atomic(using=TENANT_DB):
            invoice_payment_cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id, intent_just_stored=True)
    return payment


def invoice_payment_open_on_commit(*, invoice_kind: str, invoice_id: int, tenant_id: int | None, using: str) -> None:
    """Called by `invoice_send` inside its transaction on `using`.

    The durable record comes first: the "unopened" payment row is written in the send's own
    transaction (tenant invoices), or through the outbox in it (marketplace invoices: the row lives
    in the tenant database). Once that commits a worker creates the Stripe intent, never inside the
    send's transaction and locks; if the enqueue is lost (Redis down) the sweep opens the row later.
    """
    if using != TENANT_DB:
        from breederhq.outbox import outbox_enqueue

        outbox_enqueue(
            using=using, topic="payments.open_intent", payload={"invoice_kind": invoice_kind, "invoice_id": invoice_id}
        )
        return
    invoice_payment_record_unopened(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)


def invoice_payment_record_unopened(
    *, invoice_kind: str, invoice_id: int, tenant_id: int | None
) -> InvoicePayment | None:
    """Write the "unopened" Stripe payment row of a just-sent invoice in the caller's transaction on
    the tenant database, and enqueue its opening once that commits."""
    from payments_app.providers import connect_account_for

    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if facts is None or facts.payment_mode != PaymentModeSnapshot.STRIPE:
        return None
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    payment = _payment_claim(facts, connect_account_id=account.stripe_account_id if account else "")

    from breederhq.jobs.publish_later import publish_after_commit
    from payments_app.tasks import open_invoice_payment

    # Published off the request thread once this commits; lost (Redis down): the row is "unopened"
    # and the 5-minute sweep opens it.
    publish_after_commit(open_invoice_payment, invoice_kind, invoice_id, facts.tenant_id, using=TENANT_DB)
    return payment


def invoice_payments_unopened(
    *, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None, limit: int = 500
) -> list[InvoicePayment]:
    """Stripe payments written at send but never given their intent (Redis or Stripe was down, the
    worker died, the account is not onboarded yet): the beat sweep opens them, under the same
    idempotency key. Least recently tried first, so rows that keep failing cannot starve the rest."""
    cutoff = (now or timezone.now()) - older_than
    with system_read_context(job="payments:open_unopened"):  # every tenant's rows; each is written in its own
        return list(
            InvoicePayment.objects.using(TENANT_DB)
            .filter(
                provider=InvoicePayment.Provider.STRIPE,
                open_state=OpenState.UNOPENED,
                stripe_payment_intent_id__isnull=True,
                created_at__lte=cutoff,
            )
            .order_by("updated_at", "pk")[:limit]
        )
