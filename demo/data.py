"""The small demo data set `make run` loads: enough for every page — every admin change list of both
databases included — to show something real.

Idempotent: every row is looked up by a natural key before it is created.

A few rows are deliberate faults, so support has something to practise on (a dead-lettered webhook,
a stuck outbox message, an undeliverable email). They are marked as demo data (`evt_demo_*` event
ids, `demo:` event keys, the `demo_fault` key in an outbox message's payload), what the real code
logs while making them is logged at INFO as a deliberate demo fault instead of ERROR, and
`crossdb_check` lists a marked outbox message as a demo fault, not as a problem.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import transaction

from breederhq.crossdb_check import DEMO_FAULT_KEY
from breederhq.databases import MARKETPLACE_DB, TENANT_DB

DEMO_PASSWORD = "demo-password-123"
#: The loggers the deliberate faults go through (the webhook inbox, the outbox relay, email sending).
_FAULT_LOGGERS = ("payments_app.inbox_processing", "breederhq.outbox", "breederhq.email")


class _DemoFaultFilter(logging.Filter):
    """Turns what the real code logs about a deliberate demo fault into one INFO line saying so
    (no traceback): an operator's first `make run` shows no ERROR that is not a real one."""

    def __init__(self, fault: str):
        super().__init__()
        self.fault = fault

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            record.msg = f"demo data, deliberate fault ({self.fault}): {record.msg}"
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = record.stack_info = None
        return True


@contextmanager
def deliberate_fault(fault: str):
    """Within the block, the fault loggers' warnings and errors are logged as a demo fault at INFO."""
    fault_filter = _DemoFaultFilter(fault)
    loggers = [logging.getLogger(name) for name in _FAULT_LOGGERS]
    for logger in loggers:
        logger.addFilter(fault_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(fault_filter)


def _user(*, email: str, **fields):
    from django.utils import timezone

    User = get_user_model()
    # Demo people have proved their addresses: they buy, sell and invite.
    user, created = User.objects.get_or_create(
        email=email, defaults={"username": email, "email_verified_at": timezone.now(), **fields}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


SUNNY_CONTACTS = [
    {
        "kind": "person",
        "first_name": "Maya",
        "last_name": "Lopez",
        "email": "maya.lopez@example.test",
        "phone": "+1 555 0101",
        "city": "Austin",
        "region": "TX",
        "country": "US",
    },
    {
        "kind": "person",
        "first_name": "Tom",
        "last_name": "Becker",
        "email": "tom.becker@example.test",
        "city": "Denver",
        "region": "CO",
        "country": "US",
    },
    {
        "kind": "organization",
        "organization_name": "Happy Paws Rescue",
        "email": "hello@happypaws.example.test",
        "country": "US",
        "notes": "Takes retired breeding dogs.",
    },
]

#: (natural key kept in the invoice notes, contact email, lines, the state to bring it to)
SUNNY_INVOICES = [
    (
        "demo:deposit-draft",
        "maya.lopez@example.test",
        [("Puppy deposit (Golden Retriever, litter B)", 50_000)],
        "draft",
    ),
    ("demo:balance-sent", "maya.lopez@example.test", [("Puppy balance", 200_000), ("Microchip", 4_500)], "sent"),
    ("demo:transfer-claimed", "tom.becker@example.test", [("Stud service", 80_000)], "pending_confirmation"),
    ("demo:paid", "tom.becker@example.test", [("Puppy (Labrador)", 180_000), ("Starter kit", 6_000)], "paid"),
    ("demo:refunded-part", "hello@happypaws.example.test", [("Grooming x4", 4_000, 4)], "partially_refunded"),
    ("demo:voided", "tom.becker@example.test", [("Duplicate entry", 10_000)], "void"),
]


def _sunny_kennels() -> None:
    from django.core.files.base import ContentFile

    from breederhq.tenancy import tenant_context
    from tenant_app import services
    from tenant_app.models import Contact, Invoice, Tenant

    owner = _user(email="owner@sunny-kennels.test", first_name="Sunny", last_name="Owner")
    tenant = Tenant.all_objects.filter(slug="sunny-kennels").first()
    if tenant is None:
        tenant = services.tenant_create(name="Sunny Kennels", slug="sunny-kennels", owner=owner, payment_mode="manual")
    with tenant_context(tenant.pk):
        contacts = {}
        for fields in SUNNY_CONTACTS:
            contact = Contact.objects.filter(tenant_id=tenant.pk, email=fields["email"]).first()
            contacts[fields["email"]] = contact or services.contact_create(**fields)
        for key, email, lines, state in SUNNY_INVOICES:
            if Invoice.all_objects.filter(tenant_id=tenant.pk, notes=key).exists():
                continue
            invoice = services.invoice_create(
                contact_id=contacts[email].pk,
                notes=key,
                actor=owner,
                lines=[services.LineInput(line[0], line[1], *(line[2:])) for line in lines],
            )
            if state == "void":
                services.invoice_void(invoice_id=invoice.pk, actor=owner, reason="entered twice")
                continue
            if state == "draft":
                continue
            services.invoice_send(invoice_id=invoice.pk, actor=owner)
            if state in ("pending_confirmation", "paid", "partially_refunded"):
                services.invoice_buyer_mark_paid(
                    invoice_id=invoice.pk,
                    reference=f"transfer {key}",
                    receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
                )
            if state in ("paid", "partially_refunded"):
                services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference=f"transfer {key}")
            if state == "partially_refunded":
                services.invoice_refund(
                    invoice_id=invoice.pk,
                    amount_cents=4_000,
                    reason="one session cancelled",
                    idempotency_key=f"{key}:refund",
                    actor=owner,
                )


def load_demo_data(*, back_office: bool = True) -> list[tuple[str, str]]:
    """Create the demo rows if missing; return (login, description) pairs to print. `back_office`
    adds what fills every admin page (Stripe events, outbox, audits...; see below)."""
    with transaction.atomic(using=TENANT_DB):
        _user(email="admin@breederhq.test", is_staff=True, is_superuser=True, first_name="Ada")
        _sunny_kennels()
    logins = [
        (
            "admin@breederhq.test",
            "superuser: the back office at /admin/ (on first sign-in, set up a second "
            "factor with any authenticator app: docs/operations/staff-2fa.md)",
        ),
        ("owner@sunny-kennels.test", "owner of the demo tenant Sunny Kennels (contacts, invoices)"),
    ]
    logins += load_marketplace_demo_data()
    if back_office:
        load_back_office_demo_data()
    return logins


def load_marketplace_demo_data() -> list[tuple[str, str]]:
    """A buyer, a service provider with listings and images, a thread with messages and a paid
    transaction (with its marketplace invoice). Each person signs in with a tenant-side user (the
    login identity) linked from their MarketplaceUser."""
    from marketplace_app import services
    from marketplace_app.models import MarketplaceTransaction, MarketplaceUser, MessageThread, Provider, ServiceListing

    def marketplace_user(*, email: str, display_name: str, kind: str) -> MarketplaceUser:
        with transaction.atomic(using=TENANT_DB):
            login = _user(email=email, first_name=display_name.split()[0])
        found = MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(email=email).first()
        if found is None:
            found = MarketplaceUser(email=email, display_name=display_name, kind=kind, tenant_user_id=login.pk)
            found.save(using=MARKETPLACE_DB)
        return found

    buyer = marketplace_user(email="buyer@breederhq.test", display_name="Bea Buyer", kind="buyer")
    owner = marketplace_user(email="groomer@breederhq.test", display_name="Gus Groomer", kind="service_provider")
    provider = Provider.all_objects.using(MARKETPLACE_DB).filter(user=owner).first() or services.provider_create(
        user=owner,
        kind="service_provider",
        business_name="Happy Paws Grooming",
        city="Austin",
        state="TX",
        description="Mobile grooming for dogs and cats across Austin.",
        payment_mode="manual",
    )
    demo_listings = [
        (
            "demo-full-dog-groom",
            "Full dog groom",
            "Bath, haircut, nails and ears for dogs of every size.",
            "grooming",
            6500,
            {"breed_sizes": ["small", "medium", "large"], "mobile": True},
            [
                ("https://images.breederhq.test/demo/groom-1.jpg", "Before"),
                ("https://images.breederhq.test/demo/groom-2.jpg", "After"),
            ],
        ),
        (
            "demo-puppy-first-groom",
            "Puppy's first groom",
            "A gentle first grooming session for puppies.",
            "grooming",
            3500,
            {"breed_sizes": ["small"], "mobile": True},
            [("https://images.breederhq.test/demo/puppy-1.jpg", "Happy puppy")],
        ),
    ]
    listings = []
    for slug, title, description, category, price, metadata, images in demo_listings:
        listing = ServiceListing.objects.using(MARKETPLACE_DB).filter(slug=slug).first()
        if listing is None:
            listing = services.listing_create(
                provider_id=provider.pk,
                slug=slug,
                title=title,
                description=description,
                category=category,
                price_cents=price,
                city="Austin",
                state="TX",
                category_metadata=metadata,
            )
            for url, caption in images:
                services.listing_image_add(listing_id=listing.pk, url=url, caption=caption)
            listing = services.listing_transition(listing_id=listing.pk, target="active")
        listings.append(listing)

    if not MessageThread.objects.using(MARKETPLACE_DB).filter(provider=provider, buyer=buyer).exists():
        thread = services.message_thread_open(
            buyer_id=buyer.pk,
            provider_id=provider.pk,
            listing_id=listings[0].pk,
            subject="Grooming next week",
            body="Hi! Do you have a slot next Tuesday for a medium poodle?",
        )
        services.message_send(thread_id=thread.pk, sender_id=owner.pk, body="Yes, 10am works. See you then!")
        services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="Booked, thank you.")

    if not MarketplaceTransaction.objects.using(MARKETPLACE_DB).filter(provider=provider, client=buyer).exists():
        tx = services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listings[0].pk)
        invoice = services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[services.LineItem(listings[0].title, listings[0].price_cents)]
        )
        invoice = services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=invoice.version)
        invoice = services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice.pk,
            buyer_id=buyer.pk,
            receipt_url="https://files.breederhq.test/demo/receipt.pdf",
            expected_version=invoice.version,
        )
        services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")

    return [
        ("buyer@breederhq.test", "marketplace buyer with a message thread and a paid purchase"),
        ("groomer@breederhq.test", "service provider 'Happy Paws Grooming' with two listings"),
    ]


# --- The back office's pages: every admin change list shows at least one real row ---------------------
# (tests/backoffice/test_demo_data_pages.py walks them). Everything goes through the services, the
# outbox relay and the Stripe webhook inbox, except what only Stripe itself could answer here: the
# Connect account's onboarding, the card payment's intent and a reconciliation run's listing, which
# are recorded as those flows record them.


def load_back_office_demo_data() -> None:
    from marketplace_app.models import MarketplaceUser, Provider
    from tenant_app.models import Contact, Tenant

    tenant = Tenant.objects.get(slug="sunny-kennels")
    owner = _user(email="owner@sunny-kennels.test")
    staff = _user(email="admin@breederhq.test")
    buyer = MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(email="buyer@breederhq.test")
    groomer = Provider.all_objects.using(MARKETPLACE_DB).get(business_name="Happy Paws Grooming")
    maya = _in_tenant(tenant, lambda: Contact.objects.get(email="maya.lopez@example.test"))
    _link_contact(tenant, maya, buyer)
    _team(tenant, owner)
    breeder = _sunny_breeder(tenant, owner)
    _breeder_sales(tenant, owner, maya, breeder, buyer)
    _stripe_demo(tenant, owner, maya, breeder, buyer)
    _blocks(groomer, staff)
    _undeliverable_email()
    _api_traces(buyer, owner, tenant)
    _scheduled_jobs()
    _invoice_documents(tenant)
    _self_service(groomer)


def _self_service(groomer) -> None:
    """A sign-up still waiting for its email confirmation (an account token and its audit row), a
    listing staff hid with a reason (listing moderation), and a provider suspended then reinstated."""
    from marketplace_app import moderation, services
    from marketplace_app.models import ServiceListing
    from tenant_app.accounts import account_sign_up
    from tenant_app.models import User

    if not User.objects.filter(email="newcomer@breederhq.test").exists():
        account_sign_up(email="newcomer@breederhq.test", password="Demo-newcomer-2026!", first_name="Nia")
    slug = "demo-hidden-flea-dip"
    if not ServiceListing.objects.using(MARKETPLACE_DB).filter(slug=slug).exists():
        listing = services.listing_create(
            provider_id=groomer.pk,
            slug=slug,
            title="Miracle flea dip",
            description="Cures every ailment.",
            category="grooming",
            price_cents=2500,
            city="Austin",
            state="TX",
            category_metadata={},
        )
        services.listing_transition(listing_id=listing.pk, target="active")
        moderation.listing_hide(
            listing_id=listing.pk,
            reason="Makes medical claims a groomer cannot make.",
            actor_label="admin@breederhq.test",
        )
    from marketplace_app.provider_suspension import provider_reinstate, provider_suspend
    from marketplace_app.suspension_models import ProviderSuspension

    if not ProviderSuspension.objects.using(MARKETPLACE_DB).filter(provider=groomer).exists():
        provider_suspend(
            provider_id=groomer.pk,
            reason="Unanswered complaints about missed appointments.",
            actor_label="admin@breederhq.test",
        )
        provider_reinstate(
            provider_id=groomer.pk, reason="The provider answered every complaint.", actor_label="admin@breederhq.test"
        )


def _invoice_documents(tenant) -> None:
    """The PDFs a worker renders after each invoice is sent (rendered here, as the demo runs no worker)."""
    from breederhq.invoicing.documents import DocumentNotIssued, document_ensure, invoice_ref
    from breederhq.invoicing.status import InvoiceStatus
    from marketplace_app.models import MarketplaceInvoice
    from tenant_app.models import Invoice

    issued = [
        ("tenant_invoice", invoice)
        for invoice in _in_tenant(tenant, lambda: list(Invoice.objects.exclude(status=InvoiceStatus.DRAFT)))
    ]
    issued += [
        ("marketplace_invoice", invoice)
        for invoice in MarketplaceInvoice.objects.using(MARKETPLACE_DB).exclude(status=InvoiceStatus.DRAFT)
    ]
    for kind, invoice in issued:
        try:
            document_ensure(invoice_ref(kind, invoice))
        except DocumentNotIssued:  # voided before it was ever sent
            continue


def _in_tenant(tenant, read):
    from breederhq.tenancy import tenant_context

    with tenant_context(tenant.pk):
        return read()


def _team(tenant, owner) -> None:
    """The owner invited a kennel assistant as staff and she accepted (the invitation email is in the
    queue; the membership audit log records the invitation and the acceptance)."""
    from breederhq.tenancy import tenant_context
    from tenant_app import services
    from tenant_app.models import TenantMembership

    assistant = _user(email="assistant@sunny-kennels.test", first_name="Kim", last_name="Assistant")
    with tenant_context(tenant.pk):
        if TenantMembership.objects.filter(tenant_id=tenant.pk, user=assistant).exists():
            return
        services.invitation_create(email=assistant.email, role=TenantMembership.Role.STAFF, actor=owner)
    services.invitation_accept(token=_invitation_token(assistant.email), user=assistant)


def _invitation_token(email: str) -> str:
    """The token the invitation email carries (demo only: it is stored nowhere but in the email)."""
    import re

    from breederhq.models import OutboundEmail

    body = (
        OutboundEmail.objects.using(TENANT_DB)
        .filter(template="tenant_invitation", to=[email])
        .order_by("-id")
        .values_list("text_body", flat=True)
        .first()
    )
    return re.search(r"invitation code, if the app asks for it: (\S+)", body).group(1)


def _link_contact(tenant, contact, buyer) -> None:
    """Maya is also the marketplace buyer: a reference from the tenant database to the marketplace."""
    from breederhq.tenancy import tenant_context
    from tenant_app import services

    if contact.marketplace_user_id is None:
        with tenant_context(tenant.pk):
            services.contact_update(contact_id=contact.pk, marketplace_user_id=buyer.pk)


def _sunny_breeder(tenant, owner):
    """Sunny Kennels also sells on the marketplace, as a breeder billed with its own tenant invoices."""
    from marketplace_app import services
    from marketplace_app.models import MarketplaceUser, Provider

    provider = Provider.all_objects.using(MARKETPLACE_DB).filter(tenant_id=tenant.pk).first()
    if provider is not None:
        return provider
    user = MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(email=owner.email).first()
    if user is None:
        user = MarketplaceUser(email=owner.email, display_name="Sunny Owner", kind="breeder", tenant_user_id=owner.pk)
        user.save(using=MARKETPLACE_DB)
    return services.provider_create(
        user=user,
        kind="breeder",
        business_name="Sunny Kennels",
        tenant_id=tenant.pk,
        city="Austin",
        state="TX",
        description="Golden Retrievers and Labradors.",
    )


def _breeder_sale(tenant, owner, contact, breeder, buyer, *, key: str, line: tuple[str, int]):
    """A marketplace transaction billed with a Sunny tenant invoice (sent); returns (tx, invoice),
    or None when it exists already."""
    from breederhq.tenancy import tenant_context
    from marketplace_app import services as market
    from tenant_app import services
    from tenant_app.models import Invoice

    if _in_tenant(tenant, lambda: Invoice.all_objects.filter(notes=key).exists()):
        return None
    tx = market.transaction_create(
        provider_id=breeder.pk, client_id=buyer.pk, amount_cents=line[1], description=line[0]
    )
    with tenant_context(tenant.pk):
        invoice = services.invoice_create(
            contact_id=contact.pk,
            notes=key,
            actor=owner,
            is_marketplace_invoice=True,
            lines=[services.LineInput(line[0], line[1])],
        )
    market.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    with tenant_context(tenant.pk):
        invoice = services.invoice_send(invoice_id=invoice.pk, actor=owner)
    return tx, invoice


def _breeder_sales(tenant, owner, contact, breeder, buyer) -> None:
    """The outbox both ways, relayed: a paid tenant invoice marks its marketplace transaction paid
    (tenant DB -> marketplace DB), a cancelled transaction voids its unpaid tenant invoice
    (marketplace DB -> tenant DB)."""
    from django.core.files.base import ContentFile

    from breederhq.outbox import outbox_relay_due
    from breederhq.tenancy import tenant_context
    from marketplace_app import services as market
    from tenant_app import services

    paid = _breeder_sale(
        tenant,
        owner,
        contact,
        breeder,
        buyer,
        key="demo:breeder-sale-paid",
        line=("Golden Retriever puppy (litter B)", 250_000),
    )
    if paid is not None:
        with tenant_context(tenant.pk):
            services.invoice_buyer_mark_paid(
                invoice_id=paid[1].pk,
                reference="transfer demo:breeder-sale",
                receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
            )
            services.invoice_confirm_payment(invoice_id=paid[1].pk, actor=owner, reference="transfer demo:breeder-sale")
    cancelled = _breeder_sale(
        tenant,
        owner,
        contact,
        breeder,
        buyer,
        key="demo:breeder-sale-cancelled",
        line=("Labrador puppy reservation", 50_000),
    )
    if cancelled is not None:
        market.transaction_cancel(transaction_id=cancelled[0].pk)
    outbox_relay_due()


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


def _stripe_demo(tenant, owner, contact, breeder, buyer) -> None:
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

    sale = _breeder_sale(
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


def _blocks(groomer, staff) -> None:
    """Two users blocked by the groomer; support lifted one block (the audited back-office action)."""
    from breederhq.backoffice.actions import staff_action_record
    from marketplace_app import services
    from marketplace_app.models import MarketplaceUser, UserBlock

    if UserBlock.objects.using(MARKETPLACE_DB).filter(provider=groomer).exists():
        return
    spammer = MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(email="spam@example.test").first()
    if spammer is None:
        spammer = MarketplaceUser(email="spam@example.test", display_name="Spammy Sam", kind="buyer")
        spammer.save(using=MARKETPLACE_DB)
    mistaken = MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(email="oops@example.test").first()
    if mistaken is None:
        mistaken = MarketplaceUser(email="oops@example.test", display_name="Olive Oops", kind="buyer")
        mistaken.save(using=MARKETPLACE_DB)
    services.user_block_create(provider_id=groomer.pk, user_id=spammer.pk, reason="sends the same ad every day")
    lifted = services.user_block_create(provider_id=groomer.pk, user_id=mistaken.pk, reason="blocked by mistake")
    removed = services.user_block_delete(provider_id=groomer.pk, user_id=mistaken.pk)
    staff_action_record(
        user=staff,
        action="unblock_user",
        obj=lifted,
        reason="ticket #2: the groomer asked",
        result=f"{removed} block(s) removed",
    )


def _undeliverable_email() -> None:
    """A welcome email to an address pasted with a line break in it: every attempt fails, the last
    one marks it failed (the rest of the demo's emails stay queued until a worker sends them)."""
    from django.conf import settings

    from breederhq.email import email_enqueue, email_send

    email = email_enqueue(
        using=MARKETPLACE_DB,
        event_key="demo:welcome-typo",
        template="welcome",
        to=["olive@example.test\nolive.oops@example.test"],
        context={"name": "Olive", "url": "http://127.0.0.1:8000/"},
    )
    with deliberate_fault("an email address with a line break, undeliverable"):
        for _ in range(settings.EMAIL_MAX_ATTEMPTS - email.attempts):
            email_send(using=MARKETPLACE_DB, pk=email.pk)


def _api_traces(buyer, owner, tenant) -> None:
    """What API traffic leaves behind: an idempotency key per database (a replayable POST), a
    refused access in each database's authorization audit, and sign-in tokens (one signed out)."""
    from django.db import transaction
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    from breederhq.idempotency import claim_key, complete_claim, lock_claim, request_fingerprint
    from breederhq.models import IdempotencyKey
    from breederhq.tenancy import write_authorization_audit

    # As breederhq.api.idempotency scopes keys: by the signed-in (tenant_app) user, and where the
    # request acted (the tenant, or the marketplace identity).
    for alias, path, scope, context in (
        (TENANT_DB, "/api/v1/contacts/", f"tenant_app.user:{owner.pk}", f"tenant:{tenant.pk}"),
        (
            MARKETPLACE_DB,
            "/api/v1/marketplace/threads/",
            f"tenant_app.user:{buyer.tenant_user_id}",
            f"marketplace:{buyer.pk}",
        ),
    ):
        key = "demo-key-1"
        if IdempotencyKey.objects.using(alias).filter(key=key).exists():
            continue
        body = b'{"demo": true}'
        identity = {
            "scope": scope,
            "context": context,
            "method": "POST",
            "path": path,
            "key": key,
            "fingerprint": request_fingerprint(
                method="POST", path=path, content_type="application/json", body=body, tenant_header=""
            ),
        }
        claim_key(using=alias, **identity)
        with transaction.atomic(using=alias):
            claim = lock_claim(using=alias, **identity)
            complete_claim(
                claim.record,
                using=alias,
                status=201,
                content_type="application/json",
                body='{"id": 1}',
                headers={"Content-Type": "application/json"},
            )
        write_authorization_audit(
            user_id=buyer.tenant_user_id if alias == MARKETPLACE_DB else owner.pk,
            resource_type="invoice" if alias == TENANT_DB else "thread",
            resource_id=999,
            action="view",
            allowed=False,
            reason="not a member of the owning tenant (demo)",
            using=alias,
        )
    login = _user(email="buyer@breederhq.test")
    if not OutstandingToken.objects.filter(user=login).exists():
        RefreshToken.for_user(login)
        RefreshToken.for_user(login).blacklist()  # signed out on another device


def _scheduled_jobs() -> None:
    """Beat's schedule in the PeriodicTask table (as beat writes it at start-up) and one job's status."""
    from django_celery_beat.models import PeriodicTask

    from breederhq.jobs.scheduler import ScheduleDefaultsDatabaseScheduler
    from breederhq.tasks import purge_expired_idempotency_keys
    from config.celery import app

    # What beat's scheduler does at start-up for a job missing from the table (its Entry.from_entry).
    existing = set(PeriodicTask.objects.values_list("name", flat=True))
    for name, entry in app.conf.beat_schedule.items():
        if name not in existing:
            ScheduleDefaultsDatabaseScheduler.Entry.from_entry(name, app=app, **entry)
    purge_expired_idempotency_keys()
