"""The small demo data set `make run` loads: enough for every page to show something real.

Idempotent: every row is looked up by a natural key before it is created.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_PASSWORD = "demo-password-123"


def _user(*, email: str, **fields):
    User = get_user_model()
    user, created = User.objects.get_or_create(email=email, defaults={"username": email, **fields})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


SUNNY_CONTACTS = [
    {"kind": "person", "first_name": "Maya", "last_name": "Lopez", "email": "maya.lopez@example.test",
     "phone": "+1 555 0101", "city": "Austin", "region": "TX", "country": "US"},
    {"kind": "person", "first_name": "Tom", "last_name": "Becker", "email": "tom.becker@example.test",
     "city": "Denver", "region": "CO", "country": "US"},
    {"kind": "organization", "organization_name": "Happy Paws Rescue", "email": "hello@happypaws.example.test",
     "country": "US", "notes": "Takes retired breeding dogs."},
]

#: (natural key kept in the invoice notes, contact email, lines, the state to bring it to)
SUNNY_INVOICES = [
    ("demo:deposit-draft", "maya.lopez@example.test", [("Puppy deposit (Golden Retriever, litter B)", 50_000)], "draft"),
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
                contact_id=contacts[email].pk, notes=key, actor=owner,
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
                    invoice_id=invoice.pk, reference=f"transfer {key}",
                    receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
                )
            if state in ("paid", "partially_refunded"):
                services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference=f"transfer {key}")
            if state == "partially_refunded":
                services.invoice_refund(invoice_id=invoice.pk, amount_cents=4_000, reason="one session cancelled",
                                        idempotency_key=f"{key}:refund", actor=owner)


def load_demo_data() -> list[tuple[str, str]]:
    """Create the demo rows if missing; return (login, description) pairs to print."""
    with transaction.atomic(using="default"):
        _user(email="admin@breederhq.test", is_staff=True, is_superuser=True, first_name="Ada")
        _sunny_kennels()
    logins = [
        ("admin@breederhq.test", "superuser: the back office at /admin/"),
        ("owner@sunny-kennels.test", "owner of the demo tenant Sunny Kennels (contacts, invoices)"),
    ]
    logins += load_marketplace_demo_data()
    return logins


def load_marketplace_demo_data() -> list[tuple[str, str]]:
    """A buyer, a service provider with listings and images, a thread with messages and a paid
    transaction (with its marketplace invoice). Each person signs in with a tenant-side user (the
    login identity) linked from their MarketplaceUser."""
    from marketplace_app import services
    from marketplace_app.models import MarketplaceTransaction, MarketplaceUser, MessageThread, Provider, ServiceListing

    def marketplace_user(*, email: str, display_name: str, kind: str) -> MarketplaceUser:
        with transaction.atomic(using="default"):
            login = _user(email=email, first_name=display_name.split()[0])
        found = MarketplaceUser.all_objects.using("marketplace").filter(email=email).first()
        if found is None:
            found = MarketplaceUser(email=email, display_name=display_name, kind=kind, tenant_user_id=login.pk)
            found.save(using="marketplace")
        return found

    buyer = marketplace_user(email="buyer@breederhq.test", display_name="Bea Buyer", kind="buyer")
    owner = marketplace_user(email="groomer@breederhq.test", display_name="Gus Groomer", kind="service_provider")
    provider = Provider.all_objects.using("marketplace").filter(user=owner).first() or services.provider_create(
        user=owner, kind="service_provider", business_name="Happy Paws Grooming", city="Austin", state="TX",
        description="Mobile grooming for dogs and cats across Austin.", payment_mode="manual",
    )
    demo_listings = [
        ("demo-full-dog-groom", "Full dog groom", "Bath, haircut, nails and ears for dogs of every size.",
         "grooming", 6500, {"breed_sizes": ["small", "medium", "large"], "mobile": True},
         [("https://images.breederhq.test/demo/groom-1.jpg", "Before"),
          ("https://images.breederhq.test/demo/groom-2.jpg", "After")]),
        ("demo-puppy-first-groom", "Puppy's first groom", "A gentle first grooming session for puppies.",
         "grooming", 3500, {"breed_sizes": ["small"], "mobile": True},
         [("https://images.breederhq.test/demo/puppy-1.jpg", "Happy puppy")]),
    ]
    listings = []
    for slug, title, description, category, price, metadata, images in demo_listings:
        listing = ServiceListing.objects.using("marketplace").filter(slug=slug).first()
        if listing is None:
            listing = services.listing_create(
                provider_id=provider.pk, slug=slug, title=title, description=description, category=category,
                price_cents=price, city="Austin", state="TX", category_metadata=metadata,
            )
            for url, caption in images:
                services.listing_image_add(listing_id=listing.pk, url=url, caption=caption)
            listing = services.listing_transition(listing_id=listing.pk, target="active")
        listings.append(listing)

    if not MessageThread.objects.using("marketplace").filter(provider=provider, buyer=buyer).exists():
        thread = services.message_thread_open(
            buyer_id=buyer.pk, provider_id=provider.pk, listing_id=listings[0].pk, subject="Grooming next week",
            body="Hi! Do you have a slot next Tuesday for a medium poodle?",
        )
        services.message_send(thread_id=thread.pk, sender_id=owner.pk, body="Yes, 10am works. See you then!")
        services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="Booked, thank you.")

    if not MarketplaceTransaction.objects.using("marketplace").filter(provider=provider, client=buyer).exists():
        tx = services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listings[0].pk)
        invoice = services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[services.LineItem(listings[0].title, listings[0].price_cents)]
        )
        invoice = services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=invoice.version)
        invoice = services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice.pk, buyer_id=buyer.pk, receipt_url="https://files.breederhq.test/demo/receipt.pdf",
            expected_version=invoice.version,
        )
        services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")

    return [
        ("buyer@breederhq.test", "marketplace buyer with a message thread and a paid purchase"),
        ("groomer@breederhq.test", "service provider 'Happy Paws Grooming' with two listings"),
    ]
