"""The hot lists render `values()` rows by hand (marketplace_app.api.serializers.*_rows_out); the
JSON must be exactly what the schema's serializers give for the same rows, key order included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.api import serializers as s
from marketplace_app.models import MarketplaceTransaction, Message, ServiceListing
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def same_json(by_hand, by_serializer) -> None:
    assert json.dumps(by_hand) == json.dumps(by_serializer)


def test_listing_rows_render_as_listing_out():
    provider = ProviderFactory(business_name="Happy Paws", city="Austin", state="TX")
    make_listing(provider, slug="a", title="Groom")
    make_listing(provider, slug="b", title="Draft", publish=False)  # published_at is NULL
    listings = ServiceListing.objects.using(MARKETPLACE_DB).order_by("id")
    rows = s.listing_rows_out(listings.values(*s.LISTING_VALUES))
    assert [r["published_at"] is None for r in rows] == [False, True]
    same_json(rows, s.ListingOut(listings.select_related("provider"), many=True).data)


def test_transaction_rows_render_as_transaction_out():
    provider, buyer = ProviderFactory(), MarketplaceUserFactory()
    make_transaction(provider, buyer, description="Bath")
    paid = make_transaction(provider, buyer, amount_cents=12345)
    MarketplaceTransaction.objects.using(MARKETPLACE_DB).filter(pk=paid.pk).update(
        paid_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    )
    transactions = MarketplaceTransaction.objects.using(MARKETPLACE_DB).order_by("id")
    rows = s.transaction_rows_out(transactions.values(*s.TRANSACTION_VALUES))
    assert [r["paid_at"] for r in rows] == [None, "2026-01-02T03:04:05.678901Z"]
    same_json(rows, s.TransactionOut(transactions.select_related("provider"), many=True).data)


def test_message_rows_render_as_message_out():
    provider, buyer = ProviderFactory(), MarketplaceUserFactory()
    thread = services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi")
    services.message_send(thread_id=thread.pk, sender_id=buyer.pk, body="Second")
    Message.objects.using(MARKETPLACE_DB).filter(thread_id=thread.pk, body="Hi").update(read_at=timezone.now())
    messages = Message.objects.using(MARKETPLACE_DB).filter(thread_id=thread.pk).order_by("-created_at", "-id")
    rows = s.message_rows_out(messages.values(*s.MESSAGE_VALUES))
    assert sorted(r["read_at"] is None for r in rows) == [False, True]
    same_json(rows, s.MessageOut(messages, many=True).data)


def test_rows_render_in_the_active_time_zone_like_drf():
    provider, buyer = ProviderFactory(), MarketplaceUserFactory()
    make_transaction(provider, buyer)
    transactions = MarketplaceTransaction.objects.using(MARKETPLACE_DB).order_by("id")
    with timezone.override("America/Chicago"):
        rows = s.transaction_rows_out(transactions.values(*s.TRANSACTION_VALUES))
        assert not rows[0]["created_at"].endswith("Z")
        same_json(rows, s.TransactionOut(transactions.select_related("provider"), many=True).data)


def test_listing_images_read_as_sql_are_the_orm_read_rendered():
    from django.test import RequestFactory

    from marketplace_app import listing_images
    from marketplace_app.models import ServiceListingImage

    provider = ProviderFactory()
    first, second, bare = (make_listing(provider, slug=slug) for slug in ("a", "b", "c"))
    for listing, fields in (
        (first, {"url": "https://img.example/1.jpg", "sort_order": 1}),
        (first, {"original": "listings/x/original.png", "thumbnail": "listings/x/thumbnail.png", "sort_order": 0}),
        (first, {"original": "listings/y/original.jpg", "caption": "Side", "sort_order": 0}),
        (second, {"url": "https://img.example/2.jpg", "content_type": "image/jpeg", "width": 640, "height": 480}),
    ):
        ServiceListingImage.objects.using(MARKETPLACE_DB).create(listing=listing, **fields)
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    ids = [bare.pk, second.pk, first.pk]
    orm = {listing_id: [] for listing_id in ids}
    for row in (
        ServiceListingImage.objects.using(MARKETPLACE_DB)
        .filter(listing_id__in=ids)
        .order_by("listing_id", "sort_order", "id")
        .values(*listing_images.IMAGE_VALUES)
    ):
        orm[row["listing_id"]].append(listing_images.image_row_out(row, request=request))
    shown = listing_images.images_by_listing(ids, request=request)
    assert [len(shown[i]) for i in ids] == [0, 1, 3]
    same_json(shown, orm)
