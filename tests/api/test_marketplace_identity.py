"""Joining the marketplace as a buyer (`/api/v1/marketplace/me/`, marketplace_app/api/identity_views.py):
a confirmed account makes its marketplace identity once, refreshes its token, and can then buy."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import MarketplaceTransaction, MarketplaceUser
from tests.api.conftest import bearer, body, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import UserFactory

ME = "/api/v1/marketplace/me/"


def refreshed(tokens: dict) -> Client:
    """A client with a token made after the identity existed (the refresh recomputes the claims)."""
    response = send_json(Client(), "post", "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200, response.content
    return bearer(access=body(response)["access"])


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
class TestJoining:
    def test_a_confirmed_account_joins_once_refreshes_and_buys(self):
        user = UserFactory(email="nia.buyer@example.test", first_name="Nia", last_name="Buyer")
        tokens = sign_in(user)
        client = bearer(access=tokens["access"])
        assert client.get(ME).status_code == 403  # no marketplace identity yet
        joined = client.post(ME)
        assert joined.status_code == 201, joined.content
        identity = body(joined)
        assert (identity["email"], identity["display_name"], identity["kind"]) == (user.email, "Nia Buyer", "buyer")
        again = client.post(ME)
        assert (again.status_code, body(again)) == (200, identity)
        assert MarketplaceUser.objects.using(MARKETPLACE_DB).filter(tenant_user_id=user.pk).count() == 1

        buyer = refreshed(tokens)
        assert body(buyer.get(ME)) == identity
        assert body(buyer.get("/api/v1/auth/me/"))["marketplace_user_id"] == identity["id"]
        listing = make_listing(ProviderFactory(), slug="groom", title="Dog grooming", price_cents=6_500)
        bought = send_json(
            buyer,
            "post",
            "/api/v1/marketplace/transactions/",
            {"listing_id": listing.pk},
            **{"Idempotency-Key": "buy-1"},
        )
        assert bought.status_code == 201, bought.content
        assert (
            MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=body(bought)["id"]).client_id == identity["id"]
        )

    def test_an_unconfirmed_account_is_refused_and_nothing_is_made(self):
        user = UserFactory(email="unconfirmed@example.test", email_verified_at=None)
        refused = bearer(user).post(ME)
        assert (refused.status_code, refused["Content-Type"], body(refused)["code"]) == (
            403,
            "application/problem+json",
            "email_unverified",
        )
        assert not MarketplaceUser.objects.using(MARKETPLACE_DB).filter(tenant_user_id=user.pk).exists()
        assert Client().post(ME).status_code == 401

    def test_an_address_used_by_another_linked_identity_is_409(self):
        user = UserFactory(email="shared@example.test")
        MarketplaceUserFactory(email="shared@example.test", tenant_user_id=UserFactory().pk)
        refused = bearer(user).post(ME)
        assert (refused.status_code, body(refused)["code"]) == (409, "marketplace_email_taken")
        assert not MarketplaceUser.objects.using(MARKETPLACE_DB).filter(tenant_user_id=user.pk).exists()

    def test_an_unlinked_identity_with_the_confirmed_address_is_linked_not_duplicated(self):
        user = UserFactory(email="guest@example.test")
        guest = MarketplaceUserFactory(email="guest@example.test", tenant_user_id=None)
        joined = bearer(user).post(ME)
        assert (joined.status_code, body(joined)["id"]) == (200, guest.pk)
        assert MarketplaceUser.objects.using(MARKETPLACE_DB).filter(email__iexact="guest@example.test").count() == 1


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_simultaneous_joins_make_one_identity():
    user = UserFactory(email="racing@example.test")
    access = bearer(user).defaults["HTTP_AUTHORIZATION"]
    results = run_together(
        4, lambda: (lambda r: (r.status_code, r.json().get("id")))(Client(headers={"Authorization": access}).post(ME))
    )
    assert {status for status, _ in results} <= {200, 201} and 201 in {status for status, _ in results}, results
    assert len({identity for _, identity in results}) == 1
    assert MarketplaceUser.objects.using(MARKETPLACE_DB).filter(tenant_user_id=user.pk).count() == 1
