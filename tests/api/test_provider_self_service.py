"""Providers and listings through the API: a verified account becomes a provider, creates listings,
edits, publishes, unpublishes and archives them at a version, and withdraws; only published listings
are public and searchable."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.models import MarketplaceUser, Provider, ServiceListing
from tests.api.conftest import bearer, body, send_json
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing, make_transaction
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

MINE = "/api/v1/marketplace/providers/me/"
LISTINGS = "/api/v1/marketplace/providers/me/listings/"
SEARCH = "/api/v1/marketplace/listings/"
GROOMING = {"title": "Full groom", "category": "grooming", "price_cents": 4500, "city": "Austin", "state": "tx"}


def provider_client(user=None) -> tuple[Client, object]:
    """A verified account that has created its provider profile, with a token that knows it."""
    user = user or UserFactory()
    created = send_json(bearer(user), "post", MINE, {"business_name": "Tidy Paws", "city": "Austin", "state": "TX"})
    assert created.status_code == 201, created.content
    return bearer(user), user


def test_a_verified_account_becomes_a_provider_and_lists_publishes_and_archives():
    client, user = provider_client()
    identity = MarketplaceUser.objects.get(tenant_user_id=user.pk)
    provider = Provider.objects.get(user=identity)
    assert (provider.kind, provider.business_name) == ("service_provider", "Tidy Paws")
    assert client.get(MINE).status_code == 200

    created = send_json(client, "post", LISTINGS, GROOMING, **{"Idempotency-Key": "l-1"})
    assert created.status_code == 201, created.content
    listing = body(created)
    assert (listing["status"], listing["version"], listing["currency"], listing["state"]) == ("draft", 1, "USD", "TX")
    assert body(Client().get(SEARCH, {"q": "groom"}))["count"] == 0  # a draft is not public

    published = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": 1})
    assert published.status_code == 200, published.content
    assert (body(published)["status"], published["ETag"]) == ("active", '"2"')
    assert [row["id"] for row in body(Client().get(SEARCH, {"q": "groom"}))["results"]] == [listing["id"]]

    edited = send_json(
        client,
        "patch",
        f"{LISTINGS}{listing['id']}/",
        {"title": "Deluxe bath", "price_cents": 6000},
        **{"If-Match": '"2"'},
    )
    assert edited.status_code == 200 and body(edited)["version"] == 3
    assert [row["title"] for row in body(Client().get(SEARCH, {"q": "deluxe"}))["results"]] == ["Deluxe bath"]
    stale = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"title": "Lost", "version": 2})
    assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 3)

    paused = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "unpublish", "version": 3})
    assert body(paused)["status"] == "paused"
    assert body(Client().get(SEARCH, {"q": "deluxe"}))["count"] == 0
    archived = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "archive", "version": 4})
    assert body(archived)["status"] == "archived"
    again = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": 5})
    assert (again.status_code, body(again)["code"]) == (409, "illegal_transition")
    frozen = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"title": "Nope", "version": 5})
    assert (frozen.status_code, body(frozen)["code"]) == (409, "listing_archived")
    assert [row["status"] for row in body(client.get(LISTINGS))["results"]] == ["archived"]


def test_an_unverified_account_cannot_become_a_provider():
    user = UserFactory(email_verified_at=None)
    response = send_json(bearer(user), "post", MINE, {"business_name": "Nope"})
    assert (response.status_code, body(response)["code"]) == (403, "email_unverified")
    assert not MarketplaceUser.objects.filter(tenant_user_id=user.pk).exists()


def test_a_second_profile_is_refused():
    client, user = provider_client()
    again = send_json(client, "post", MINE, {"business_name": "Twice"})
    assert (again.status_code, body(again)["code"]) == (409, "already_a_provider")
    assert Provider.objects.filter(user__tenant_user_id=user.pk).count() == 1


def test_a_breeder_provider_names_a_tenant_it_owns():
    tenant = TenantFactory()
    stranger = UserFactory()
    refused = send_json(
        bearer(stranger), "post", MINE, {"business_name": "X", "kind": "breeder", "tenant_id": tenant.pk}
    )
    assert (refused.status_code, body(refused)["code"]) == (403, "not_a_tenant_owner")
    created = send_json(
        bearer(tenant.owner_user), "post", MINE, {"business_name": "Sunny", "kind": "breeder", "tenant_id": tenant.pk}
    )
    assert created.status_code == 201, created.content
    assert Provider.objects.get(pk=body(created)["id"]).tenant_id == tenant.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "business_name"),
        ({"business_name": ""}, "business_name"),
        ({"business_name": "x" * 201}, "business_name"),
        ({"business_name": "Ok", "kind": "wizard"}, "kind"),
        ({"business_name": "Ok", "kind": "breeder"}, "tenant_id"),
        ({"business_name": "Ok", "currency": "XXX"}, "currency"),
        ({"business_name": "Ok", "unknown": 1}, "unknown"),
    ],
)
def test_bad_provider_input_is_a_400_and_stores_nothing(payload, field):
    user = UserFactory()
    response = send_json(bearer(user), "post", MINE, payload)
    assert response.status_code == 400 and field in body(response)["errors"], response.content
    assert not Provider.objects.filter(user__tenant_user_id=user.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**GROOMING, "price_cents": -1}, "price_cents"),
        ({**GROOMING, "price_cents": 10**14}, "price_cents"),
        ({**GROOMING, "price_cents": 12.5}, "price_cents"),
        ({**GROOMING, "category": "dragons"}, "category"),
        ({**GROOMING, "title": ""}, "title"),
        ({k: v for k, v in GROOMING.items() if k != "title"}, "title"),
        ({**GROOMING, "category_metadata": ["not", "a", "dict"]}, "category_metadata"),
        ({**GROOMING, "status": "active"}, "status"),
    ],
)
def test_bad_listing_input_names_the_field_and_stores_nothing(payload, field):
    client, user = provider_client()
    response = send_json(client, "post", LISTINGS, payload)
    assert response.status_code == 400 and field in body(response)["errors"], response.content
    assert not ServiceListing.objects.filter(provider__user__tenant_user_id=user.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"version": 1}, "action"),
        ({"action": "publish", "title": "x", "version": 1}, "action"),
        ({"action": "fly", "version": 1}, "action"),
        ({"title": "New"}, "version"),
        ({"price_cents": -5, "version": 1}, "price_cents"),
    ],
)
def test_bad_listing_changes_are_400_and_change_nothing(payload, field):
    client, _ = provider_client()
    listing = body(send_json(client, "post", LISTINGS, GROOMING))
    response = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", payload)
    assert response.status_code == 400 and field in body(response)["errors"], response.content
    stored = ServiceListing.objects.get(pk=listing["id"])
    assert (stored.title, stored.version, stored.status) == ("Full groom", 1, "draft")


def test_another_providers_listing_is_not_found():
    other = make_listing(ProviderFactory())
    client, _ = provider_client()
    assert client.get(f"{LISTINGS}{other.pk}/").status_code == 404
    response = send_json(client, "patch", f"{LISTINGS}{other.pk}/", {"action": "archive", "version": other.version})
    assert response.status_code == 404
    assert ServiceListing.objects.get(pk=other.pk).status == "active"


def test_withdrawing_is_refused_while_a_sale_is_open_and_archives_the_listings_after():
    client, user = provider_client()
    provider = Provider.objects.get(user__tenant_user_id=user.pk)
    listing = make_listing(provider)
    sale = make_transaction(provider, MarketplaceUserFactory())
    refused = client.delete(MINE)
    assert (refused.status_code, body(refused)["code"], body(refused)["transaction_ids"]) == (
        409,
        "provider_has_open_transactions",
        [sale.pk],
    )
    assert Provider.objects.filter(pk=provider.pk).exists()
    services.transaction_cancel(transaction_id=sale.pk)
    assert client.delete(MINE).status_code == 204
    assert Provider.all_objects.get(pk=provider.pk).deleted_at is not None
    assert ServiceListing.objects.get(pk=listing.pk).status == "archived"
    assert body(Client().get(SEARCH))["count"] == 0 or listing.pk not in [
        row["id"] for row in body(Client().get(SEARCH))["results"]
    ]


def test_a_new_person_goes_from_nothing_to_a_published_searchable_listing():
    """Sign up, confirm the address with the emailed code, become a provider, list and publish: only HTTP."""
    import re

    from breederhq.models import OutboundEmail

    anonymous = Client()
    email, password = "sam.groomer@example.test", "sam-grooms-dogs-42"
    assert (
        send_json(anonymous, "post", "/api/v1/auth/sign-up/", {"email": email, "password": password}).status_code == 202
    )
    tokens = body(send_json(anonymous, "post", "/api/v1/auth/token/", {"email": email, "password": password}))
    client = Client(headers={"Authorization": f"Bearer {tokens['access']}"})
    assert send_json(client, "post", MINE, {"business_name": "Sam's Grooming"}).status_code == 403

    [message] = OutboundEmail.objects.using(TENANT_DB).filter(to=[email], template="account_verify_email")
    code = re.search(r"code, if the app asks for it: (\S+)", message.text_body).group(1)
    assert send_json(anonymous, "post", "/api/v1/auth/verify-email/", {"token": code}).status_code == 200

    created = send_json(client, "post", MINE, {"business_name": "Sam's Grooming", "city": "Austin", "state": "TX"})
    assert created.status_code == 201, created.content
    pair = body(send_json(anonymous, "post", "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}))
    provider = Client(headers={"Authorization": f"Bearer {pair['access']}"})
    listing = body(send_json(provider, "post", LISTINGS, {**GROOMING, "title": "Spa day for poodles"}))
    published = send_json(
        provider, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": listing["version"]}
    )
    assert published.status_code == 200, published.content
    found = body(Client().get(SEARCH, {"q": "poodles"}))["results"]
    assert [(row["title"], row["provider"]["business_name"]) for row in found] == [
        ("Spa day for poodles", "Sam's Grooming")
    ]
    assert Client().get(f"{SEARCH}{listing['slug']}/").status_code == 200
