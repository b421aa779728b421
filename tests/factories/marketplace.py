"""Factories for the marketplace database. Rows are saved with `using="marketplace"` through the
router; services are used where a row's counters must stay consistent (listings, transactions)."""

from __future__ import annotations

import factory

from breederhq.databases import MARKETPLACE_DB
from marketplace_app import services
from marketplace_app.models import MarketplaceUser, Provider


class MarketplaceUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MarketplaceUser
        database = MARKETPLACE_DB

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    display_name = factory.Sequence(lambda n: f"User {n}")
    kind = MarketplaceUser.Kind.BUYER


class ProviderFactory(factory.django.DjangoModelFactory):
    """A service provider by default; `ProviderFactory(breeder=True)` for a breeder with a tenant."""

    class Meta:
        model = Provider
        database = MARKETPLACE_DB

    class Params:
        breeder = factory.Trait(kind=Provider.Kind.BREEDER, tenant_id=factory.Sequence(lambda n: 1000 + n))

    user = factory.SubFactory(MarketplaceUserFactory, kind=MarketplaceUser.Kind.SERVICE_PROVIDER)
    kind = Provider.Kind.SERVICE_PROVIDER
    tenant_id = None
    business_name = factory.Sequence(lambda n: f"Provider {n}")
    city = "Austin"
    state = "TX"
    currency = "USD"
    payment_mode = Provider.PaymentMode.MANUAL


def make_listing(provider: Provider, *, publish: bool = True, **fields):
    fields.setdefault("title", "Puppy grooming")
    fields.setdefault("category", "grooming")
    fields.setdefault("price_cents", 5000)
    fields.setdefault("state", provider.state)
    fields.setdefault("city", provider.city)
    listing = services.listing_create(provider_id=provider.pk, **fields)
    if publish:
        listing = services.listing_transition(listing_id=listing.pk, target="active")
    return listing


def make_transaction(provider: Provider, client: MarketplaceUser | None = None, *, amount_cents: int = 10000, **fields):
    client = client or MarketplaceUserFactory()
    return services.transaction_create(
        provider_id=provider.pk, client_id=client.pk, amount_cents=amount_cents, **fields
    )
