"""The demo marketplace: a buyer and a groomer with listings, a thread and a paid transaction; Sunny Kennels
as a breeder; blocked users; a pending sign-up, a hidden listing and a reinstated provider."""

from __future__ import annotations

from django.db import transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.base import demo_user


def load_marketplace_demo_data() -> list[tuple[str, str]]:
    """A buyer, a service provider with listings and images, a thread with messages and a paid
    transaction (with its marketplace invoice). Each person signs in with a tenant-side user (the
    login identity) linked from their MarketplaceUser."""
    from marketplace_app import services
    from marketplace_app.models import MarketplaceTransaction, MarketplaceUser, MessageThread, Provider, ServiceListing

    def marketplace_user(*, email: str, display_name: str, kind: str) -> MarketplaceUser:
        with transaction.atomic(using=TENANT_DB):
            login = demo_user(email=email, first_name=display_name.split()[0])
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


def sunny_breeder(tenant, owner):
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


def user_blocks(groomer, staff) -> None:
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


def self_service(groomer) -> None:
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
