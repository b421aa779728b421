"""Listings: creation rules, the status machine and its effect on the provider's listing count."""

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import IllegalTransition, NotFound, ValidationFailed
from marketplace_app import services
from marketplace_app.models import Provider, ServiceListing, ServiceListingImage
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def listing_count(provider):
    return Provider.all_objects.values_list("total_listings", flat=True).get(pk=provider.pk)


def test_create_normalises_location_and_takes_the_provider_currency():
    provider = ProviderFactory(currency="CAD")
    listing = services.listing_create(
        provider_id=provider.pk,
        title="Dog Walking!",
        category="other",
        price_cents=2000,
        state=" on ",
        city=" Toronto ",
    )
    assert (listing.state, listing.city, listing.currency, listing.status) == ("ON", "Toronto", "CAD", "draft")
    assert listing.slug.startswith("dog-walking-")
    assert listing_count(provider) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": "dragons"}, "category"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": 10.5}, "price_cents"),
    ],
)
def test_create_refuses_invalid_input(fields, field):
    provider = ProviderFactory()
    arguments = {"provider_id": provider.pk, "title": "X", "category": "grooming", "price_cents": 100, **fields}
    with pytest.raises(ValidationFailed) as refused:
        services.listing_create(**arguments)
    assert field in refused.value.field_errors
    assert ServiceListing.objects.count() == 0


def test_slug_is_unique():
    provider = ProviderFactory()
    services.listing_create(provider_id=provider.pk, title="A", category="grooming", price_cents=1, slug="same")
    with pytest.raises(ValidationFailed) as refused:
        services.listing_create(provider_id=provider.pk, title="B", category="grooming", price_cents=1, slug="same")
    assert refused.value.field_errors == {"slug": ["Already in use."]}
    assert ServiceListing.objects.count() == 1


def test_deleted_provider_cannot_list():
    provider = ProviderFactory()
    services.provider_delete(provider_id=provider.pk)
    with pytest.raises(NotFound):
        services.listing_create(provider_id=provider.pk, title="A", category="grooming", price_cents=1)


def test_status_machine_moves_the_active_count():
    provider = ProviderFactory()
    listing = make_listing(provider, publish=False)
    listing = services.listing_transition(listing_id=listing.pk, target="active")
    published_at = listing.published_at
    assert published_at is not None and listing_count(provider) == 1
    services.listing_transition(listing_id=listing.pk, target="paused")
    assert listing_count(provider) == 0
    listing = services.listing_transition(listing_id=listing.pk, target="active")
    assert listing.published_at == published_at and listing_count(provider) == 1
    services.listing_transition(listing_id=listing.pk, target="archived")
    assert listing_count(provider) == 0
    with pytest.raises(IllegalTransition) as refused:
        services.listing_transition(listing_id=listing.pk, target="active")
    assert refused.value.extra["current_status"] == "archived"
    assert listing_count(provider) == 0


def test_images_keep_their_order():
    listing = make_listing(ProviderFactory())
    services.listing_image_add(listing_id=listing.pk, url="https://img.test/a.jpg", caption="A")
    services.listing_image_add(listing_id=listing.pk, url="https://img.test/b.jpg")
    services.listing_image_add(listing_id=listing.pk, url="https://img.test/first.jpg", sort_order=-1)
    assert list(ServiceListingImage.objects.filter(listing=listing).values_list("url", "sort_order")) == [
        ("https://img.test/first.jpg", -1),
        ("https://img.test/a.jpg", 0),
        ("https://img.test/b.jpg", 1),
    ]


def test_buying_an_inactive_or_foreign_listing_is_refused():
    provider, other = ProviderFactory(), ProviderFactory()
    draft = make_listing(provider, publish=False)
    foreign = make_listing(other)
    buyer = MarketplaceUserFactory()
    for listing in (draft, foreign):
        with pytest.raises(ValidationFailed):
            services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listing.pk)
    with pytest.raises(ValidationFailed):
        services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="hi", listing_id=foreign.pk)
    assert Provider.objects.values_list("total_transactions", flat=True).get(pk=provider.pk) == 0


def test_buying_a_listing_takes_its_price_and_title():
    provider = ProviderFactory()
    listing = make_listing(provider, title="Bath", price_cents=4200)
    tx = services.transaction_create(
        provider_id=provider.pk, client_id=MarketplaceUserFactory().pk, listing_id=listing.pk
    )
    assert (tx.amount_cents, tx.currency, tx.description, tx.status) == (4200, "USD", "Bath", "pending_invoice")


def test_transaction_lists_by_provider_and_client_newest_first():
    from marketplace_app.selectors import transaction_list_for_client, transaction_list_for_provider

    provider, other = ProviderFactory(), ProviderFactory()
    buyer = MarketplaceUserFactory()
    first = services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, amount_cents=1)
    second = services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, amount_cents=2)
    elsewhere = services.transaction_create(provider_id=other.pk, client_id=buyer.pk, amount_cents=3)
    services.transaction_mark_paid(transaction_id=first.pk)
    assert [t.pk for t in transaction_list_for_provider(provider_id=provider.pk)] == [second.pk, first.pk]
    assert [t.pk for t in transaction_list_for_provider(provider_id=provider.pk, status="paid")] == [first.pk]
    assert [t.pk for t in transaction_list_for_client(client_id=buyer.pk)] == [elsewhere.pk, second.pk, first.pk]
    assert [t.pk for t in transaction_list_for_client(client_id=buyer.pk, status="pending_invoice")] == [
        elsewhere.pk,
        second.pk,
    ]
