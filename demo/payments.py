"""The demo's Stripe side, delivered as signed webhooks through the inbox: a Connect account, a payout, a card
payment in manual mode, its dispute, a dead-lettered refund, and the reconciliation that found the mismatch."""

from __future__ import annotations

from breederhq.crossdb_check import DEMO_FAULT_KEY
from breederhq.databases import TENANT_DB
from demo.faults import deliberate_fault
from demo.sales import breeder_sale


def _stripe_event(event_type: str, data_object: dict, *, key: str, account: str | None = None):
    """One webhook delivery, signed as Stripe signs it, through the inbox (stored, then processed)."""
    import json
    import time

    import stripe
    from django.conf import settings

    from payments_app.inbox import stripe_event_receive
    from payments_app.inbox_processing import stripe_event_process

    event = {
        "id": f"evt_demo_{key}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "account": account,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": data_object},
    }
    body = json.dumps(event, separators=(",", ":"))
    header = stripe.WebhookSignature.generate_signature_header(body, settings.STRIPE_WEBHOOK_SECRET)
    received = stripe_event_receive(payload=body.encode(), signature_header=header)
    return stripe_event_process(event_pk=received.pk)


def stripe_demo(tenant, owner, contact, breeder, buyer) -> None:
    """Connect account, payout, a card payment Stripe took for an invoice in manual mode (a
    reconciliation mismatch), its dispute (whose outbox message cannot apply: the transaction is
    not paid, so it ends stuck), a refund that arrived before any payment (dead-lettered after every
    attempt) and an event type nobody handles (ignored)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from breederhq.models import OutboxMessage
    from breederhq.outbox import max_attempts, outbox_relay_message
    from breederhq.tenancy import tenant_context
    from payments_app.inbox_processing import stripe_event_process
    from payments_app.models import (
        InvoicePayment,
        ReconciliationItem,
        ReconciliationRun,
        StripeConnectAccount,
        StripeWebhookEvent,
        stripe_metadata,
    )

    if StripeWebhookEvent.objects.using(TENANT_DB).filter(stripe_event_id__startswith="evt_demo_").exists():
        return
    account_id = "acct_demo_sunny"
    # Onboarding (Stripe's account links) records the account; Stripe then tells us it is enabled.
    with tenant_context(tenant.pk):  # the account is the tenant's row (row-level security)
        StripeConnectAccount.objects.using(TENANT_DB).get_or_create(
            stripe_account_id=account_id, defaults={"owner_type": "tenant", "owner_tenant": tenant}
        )
    _stripe_event(
        "account.updated",
        {
            "id": account_id,
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {},
        },
        key="account",
        account=account_id,
    )
    _stripe_event(
        "payout.paid",
        {"id": "po_demo_1", "object": "payout", "amount": 180_000, "currency": "usd", "status": "paid"},
        key="payout",
        account=account_id,
    )
    _stripe_event("customer.created", {"id": "cus_demo_1", "object": "customer"}, key="customer")

    sale = breeder_sale(
        tenant, owner, contact, breeder, buyer, key="demo:breeder-sale-card", line=("Labrador puppy (card)", 120_000)
    )
    if sale is None:
        return
    _, invoice = sale
    # Checkout (Stripe's payment intent) records the payment it opened.
    intent = "pi_demo_card"
    metadata = stripe_metadata("tenant", invoice.pk, tenant.pk)
    with tenant_context(tenant.pk):
        InvoicePayment.objects.using(TENANT_DB).create(
            invoice_kind="tenant",
            invoice_id=invoice.pk,
            owner_tenant=tenant,
            provider="stripe",
            amount_cents=invoice.total_cents,
            currency=invoice.currency,
            connect_account_id=account_id,
            stripe_payment_intent_id=intent,
            stripe_status="requires_payment_method",
            open_state="opened",
        )
    succeeded = _stripe_event(
        "payment_intent.succeeded",
        {
            "id": intent,
            "object": "payment_intent",
            "amount": invoice.total_cents,
            "amount_received": invoice.total_cents,
            "currency": "usd",
            "status": "succeeded",
            "metadata": metadata,
        },
        key="card-paid",
    )
    _stripe_event(
        "charge.dispute.created",
        {
            "id": "dp_demo_1",
            "object": "dispute",
            "payment_intent": intent,
            "amount": invoice.total_cents,
            "status": "needs_response",
        },
        key="dispute",
    )
    with deliberate_fault("a refund webhook before its payment, dead-lettered"):
        refund = _stripe_event(
            "charge.refunded",
            {
                "id": "ch_demo_card",
                "object": "charge",
                "payment_intent": intent,
                "amount_refunded": 20_000,
                "metadata": metadata,
            },
            key="refund",
        )
        for _ in range(settings.STRIPE_WEBHOOK_MAX_ATTEMPTS):  # the retries Stripe's inbox would make
            stripe_event_process(event_pk=refund.pk)

    # The dispute's message to the marketplace cannot apply while the transaction is unpaid: after
    # the last attempt the relay leaves it stuck, for support to requeue from the outbox page.
    message = OutboxMessage.objects.using(TENANT_DB).filter(topic="payments.dispute_opened").first()
    if message is not None:
        why = "a dispute for a transaction that is not paid, stuck in the outbox"
        message.payload = {**message.payload, DEMO_FAULT_KEY: why}
        message.save(using=TENANT_DB, update_fields=["payload"])
        now = timezone.now()
        with deliberate_fault(why):
            for attempt in range(max_attempts()):
                outbox_relay_message(source=TENANT_DB, message_pk=message.pk, now=now + timedelta(minutes=attempt))

    # Last night's reconciliation (it lists Stripe's payment intents) found the mismatch.
    run = ReconciliationRun.objects.using(TENANT_DB).create(
        trigger="command", finished_at=timezone.now(), remote_objects=1, local_payments=1, mismatch=1
    )
    ReconciliationItem.objects.using(TENANT_DB).create(
        run=run,
        status="mismatch",
        invoice_kind="tenant",
        invoice_id=invoice.pk,
        tenant_id_hint=tenant.pk,
        stripe_object_id=intent,
        local_amount_cents=invoice.total_cents,
        remote_amount_cents=invoice.total_cents,
        detail=(succeeded.outcome or "Stripe took a payment for an invoice in manual mode")[:300],
    )
