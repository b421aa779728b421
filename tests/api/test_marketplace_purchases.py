"""Buying through the API: `POST /api/v1/marketplace/transactions/` creates a purchase for the signed-in
marketplace user (through services.transaction_create), with a required Idempotency-Key."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from marketplace_app.models import MarketplaceTransaction
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_listing
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
URL = "/api/v1/marketplace/transactions/"


def buy(client: Client, listing_id, key: str | None = "buy-1", **extra):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return send_json(client, "post", URL, {"listing_id": listing_id, **extra}, **headers)


@pytest.fixture
def listing():
    provider_login, provider = provider_with_login(business_name="Happy Paws")
    return provider_login, make_listing(provider, slug="groom", title="Full dog groom", price_cents=6_500)


class TestBuying:
    def test_a_buyer_buys_a_listing_at_its_price_and_only_the_two_sides_see_it(self, listing):
        provider_login, groom = listing
        buyer_login, buyer = person()
        response = buy(bearer(buyer_login), groom.pk)
        assert (response.status_code, response["Content-Type"]) == (201, "application/json")
        created = body(response)
        tx = MarketplaceTransaction.objects.get()
        assert created["id"] == tx.pk
        assert (
            created["client_id"],
            created["listing_id"],
            created["amount_cents"],
            created["currency"],
            created["description"],
            created["status"],
            created["provider"]["business_name"],
        ) == (buyer.pk, groom.pk, 6_500, tx.currency, "Full dog groom", tx.status, "Happy Paws")
        assert [t["id"] for t in body(bearer(buyer_login).get(URL))["results"]] == [tx.pk]
        assert [t["id"] for t in body(bearer(provider_login).get(URL, {"as": "provider"}))["results"]] == [tx.pk]
        outsider_login, _ = person()
        assert body(bearer(outsider_login).get(URL))["results"] == []
        assert bearer(outsider_login).get(f"{URL}{tx.pk}/").status_code == 404
        assert bearer(buyer_login).get(f"{URL}{tx.pk}/").status_code == 200

    def test_anonymous_is_401_and_a_login_without_marketplace_identity_403(self, listing):
        _, groom = listing
        anonymous = buy(Client(), groom.pk)
        assert (anonymous.status_code, anonymous["Content-Type"]) == (401, "application/problem+json")
        no_identity = buy(bearer(UserFactory()), groom.pk)
        assert (no_identity.status_code, no_identity["Content-Type"]) == (403, "application/problem+json")
        assert not MarketplaceTransaction.objects.exists()

    def test_the_buyer_is_the_signed_in_user_whatever_the_body_says(self, listing):
        _, groom = listing
        buyer_login, _ = person()
        _, someone_else = person()
        response = buy(bearer(buyer_login), groom.pk, client_id=someone_else.pk)
        assert (response.status_code, body(response)["code"]) == (400, "validation_failed")
        assert "client_id" in body(response)["errors"]
        assert not MarketplaceTransaction.objects.exists()


class TestIdempotency:
    def test_the_key_is_required(self, listing):
        _, groom = listing
        buyer_login, _ = person()
        response = buy(bearer(buyer_login), groom.pk, key=None)
        assert (response.status_code, body(response)["code"]) == (400, "idempotency_key_required")
        assert not MarketplaceTransaction.objects.exists()

    def test_a_retry_replays_the_first_purchase_and_another_body_is_422(self, listing):
        provider_login, groom = listing
        other = make_listing(groom.provider, slug="walk", title="Walk", price_cents=1_500)
        buyer_login, _ = person()
        client = bearer(buyer_login)
        first = buy(client, groom.pk, key="k-1")
        replay = buy(client, groom.pk, key="k-1")
        assert (first.status_code, replay.status_code, replay["Idempotent-Replayed"]) == (201, 201, "true")
        assert body(replay) == body(first)
        assert MarketplaceTransaction.objects.count() == 1
        reused = buy(client, other.pk, key="k-1")
        assert (reused.status_code, body(reused)["code"]) == (422, "idempotency_key_reused")
        assert MarketplaceTransaction.objects.count() == 1
        # A new key is a new purchase.
        assert buy(client, groom.pk, key="k-2").status_code == 201
        assert MarketplaceTransaction.objects.count() == 2


class TestRefusals:
    def test_a_listing_not_on_sale_unknown_or_your_own_is_400(self, listing):
        provider_login, groom = listing
        draft = make_listing(groom.provider, slug="draft", title="Draft", publish=False)
        buyer_login, _ = person()
        for listing_id, key in ((draft.pk, "d"), (groom.pk + draft.pk + 1000, "u")):
            response = buy(bearer(buyer_login), listing_id, key=key)
            assert (response.status_code, response["Content-Type"]) == (400, "application/problem+json")
            assert body(response)["errors"] == {"listing_id": ["Not available."]}
        own = buy(bearer(provider_login), groom.pk, key="own")
        assert (own.status_code, body(own)["code"]) == (400, "validation_failed")
        assert not MarketplaceTransaction.objects.exists()

    def test_a_provider_that_blocked_you_is_403_and_one_that_left_is_410(self, listing):
        _, groom = listing
        buyer_login, buyer = person()
        services.user_block_create(provider_id=groom.provider_id, user_id=buyer.pk)
        blocked = buy(bearer(buyer_login), groom.pk, key="b")
        assert (blocked.status_code, body(blocked)["code"]) == (403, "blocked_by_provider")
        other_login, _ = person()
        services.provider_delete(provider_id=groom.provider_id)
        gone = buy(bearer(other_login), groom.pk, key="g")
        assert (gone.status_code, body(gone)["code"]) == (410, "provider_gone")
        assert not MarketplaceTransaction.objects.exists()

    @pytest.mark.parametrize("payload", [{"listing_id": "groom"}, {}, {"listing_id": 0}, "not json", [1]])
    def test_malformed_bodies_are_400_problems(self, listing, payload):
        buyer_login, _ = person()
        response = send_json(bearer(buyer_login), "post", URL, payload, **{"Idempotency-Key": "m"})
        assert (response.status_code, response["Content-Type"]) == (400, "application/problem+json")
        assert not MarketplaceTransaction.objects.exists()
