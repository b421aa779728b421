"""Erasing a marketplace person withdraws their provider: listings archived, provider soft-deleted,
and no new thread, message or purchase reaches it (410 provider_gone)."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Gone
from marketplace_app import services
from marketplace_app.models import Provider, ServiceListing
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_listing

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
M = "/api/v1/marketplace/"


def _gone(response):
    assert (response.status_code, response["Content-Type"]) == (410, "application/problem+json"), response.content
    assert body(response)["code"] == "provider_gone"


def test_erasure_archives_the_listings_and_soft_deletes_the_provider():
    _, provider = provider_with_login()
    make_listing(provider, slug="live")
    make_listing(provider, slug="draft", publish=False)
    paused = make_listing(provider, slug="paused")
    services.listing_transition(listing_id=paused.pk, target="paused")
    assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).total_listings == 1
    services.marketplace_user_erase(user_id=provider.user_id)
    withdrawn = Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk)
    assert (withdrawn.deleted_at is not None, withdrawn.total_listings) == (True, 0)
    assert set(
        ServiceListing.objects.using(MARKETPLACE_DB).filter(provider=provider).values_list("status", flat=True)
    ) == {"archived"}
    assert Client().get(f"{M}listings/live/").status_code == 404
    assert Client().get(f"{M}providers/{provider.pk}/").status_code == 404
    version = withdrawn.version
    services.marketplace_user_erase(user_id=provider.user_id)  # again: nothing moves
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).version == version


def test_erasing_again_withdraws_a_provider_left_live_by_an_earlier_erasure():
    _, provider = provider_with_login()
    make_listing(provider, slug="old")
    services.marketplace_user_erase(user_id=provider.user_id)
    # As erasures before providers were withdrawn left it: provider live, listing active.
    services.provider_restore(provider_id=provider.pk)
    ServiceListing.objects.using(MARKETPLACE_DB).filter(provider=provider).update(status="active")
    services.provider_stats_fix(provider_id=provider.pk)
    services.marketplace_user_erase(user_id=provider.user_id)
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).deleted_at is not None
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(provider=provider).status == "archived"
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).total_listings == 0


def test_no_new_thread_message_or_purchase_reaches_an_erased_persons_provider():
    _, provider = provider_with_login()
    listing = make_listing(provider, slug="groom")
    buyer_login, buyer = person()
    client = bearer(buyer_login)
    opened = send_json(client, "post", f"{M}threads/", {"provider_id": provider.pk, "body": "Hello"})
    assert opened.status_code == 201, opened.content
    thread_id = body(opened)["id"]
    services.marketplace_user_erase(user_id=provider.user_id)
    _gone(send_json(client, "post", f"{M}threads/", {"provider_id": provider.pk, "body": "Still there?"}))
    _gone(send_json(client, "post", f"{M}threads/{thread_id}/messages/", {"body": "Hello again"}))
    assert client.get(f"{M}threads/{thread_id}/messages/").status_code == 200  # the history stays readable
    with pytest.raises(Gone) as refused:
        services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, listing_id=listing.pk)
    assert (refused.value.status, refused.value.code) == (410, "provider_gone")


def test_a_deleted_provider_is_gone_and_an_unknown_one_not_found():
    _, provider = provider_with_login()
    buyer_login, _ = person()
    client = bearer(buyer_login)
    services.provider_delete(provider_id=provider.pk)
    _gone(send_json(client, "post", f"{M}threads/", {"provider_id": provider.pk, "body": "Hi"}))
    missing = send_json(client, "post", f"{M}threads/", {"provider_id": 999_999_999, "body": "Hi"})
    assert (missing.status_code, body(missing)["code"]) == (404, "not_found")
