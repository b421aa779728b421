"""Staff suspend a provider in the admin with a reason and reinstate it: the owner is emailed once per
step, the actions are audited, the provider leaves (and returns to) the public provider search and
profile and its listings leave (and return to) the public listing search, a cached search included;
meanwhile it cannot publish, sell or take new threads (409 `provider_suspended`) and sees the state and
the reason through its own profile."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import MarketplaceDbOutboundEmail
from marketplace_app.models import Provider, ServiceListing
from tests.api.conftest import bearer, body, send_json
from tests.api.test_provider_self_service import GROOMING, LISTINGS, MINE, provider_client
from tests.backoffice.test_actions import run
from tests.backoffice.test_listing_moderation import found_ids, published_listing
from tests.factories.marketplace import MarketplaceUserFactory
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

CHANGELIST = reverse("admin:marketplace_app_provider_changelist")
SEARCH = "/api/v1/marketplace/listings/"
PROVIDERS = "/api/v1/marketplace/providers/"
PURCHASES = "/api/v1/marketplace/transactions/"
THREADS = "/api/v1/marketplace/threads/"


def buyer() -> Client:
    user = UserFactory()
    MarketplaceUserFactory(tenant_user_id=user.pk, email=user.email)
    return bearer(user)


def public_provider_ids() -> list[int]:
    return [row["id"] for row in body(Client().get(PROVIDERS))["results"]]


def test_suspend_and_reinstate_through_the_admin(support_client, settings, django_capture_on_commit_callbacks):
    settings.LISTING_SEARCH_CACHE_SECONDS = 60  # the suspension must invalidate a cached search too
    from breederhq import request_redis

    request_redis.client().delete(
        *request_redis.client().keys(f"{request_redis.key_prefix()}:listing-search:*") or ["-"]
    )
    client, user = provider_client()
    listing = published_listing(client)
    draft = body(send_json(client, "post", LISTINGS, {**GROOMING, "title": "Nail trim"}))
    provider = Provider.objects.using(MARKETPLACE_DB).get(user__tenant_user_id=user.pk)
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        assert found_ids() == [listing["id"]]  # now cached
    assert provider.pk in public_provider_ids()
    assert body(client.get(MINE))["suspension"] == {
        "suspended": False,
        "reason": "",
        "suspended_at": None,
        "reinstated_at": None,
    }

    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        response = run(
            support_client, CHANGELIST, "suspend_provider", [provider.pk], reason="Repeated complaints about no-shows"
        )
    assert response.status_code == 302
    assert found_ids() == []
    assert Client().get(f"{SEARCH}{listing['slug']}/").status_code == 404
    assert provider.pk not in public_provider_ids()
    assert Client().get(f"{PROVIDERS}{provider.pk}/").status_code == 404
    # Its listings keep their status (reinstating puts them straight back).
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing["id"]).status == "active"

    own = body(client.get(MINE))
    assert own["suspension"]["suspended"] is True
    assert own["suspension"]["reason"] == "Repeated complaints about no-shows" and own["suspension"]["suspended_at"]
    assert own["version"] == provider.version + 1  # a change to the profile: its ETag moves

    refused = send_json(client, "patch", f"{LISTINGS}{draft['id']}/", {"action": "publish", "version": 1})
    assert (refused.status_code, body(refused)["code"]) == (409, "provider_suspended")
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=draft["id"]).status == "draft"
    shopper = buyer()
    bought = send_json(shopper, "post", PURCHASES, {"listing_id": listing["id"]}, **{"Idempotency-Key": "buy-s1"})
    assert (bought.status_code, body(bought)["code"]) == (409, "provider_suspended")
    opened = send_json(shopper, "post", THREADS, {"provider_id": provider.pk, "body": "Are you open?"})
    assert (opened.status_code, body(opened)["code"]) == (409, "provider_suspended")
    assert not provider.transactions.exists() and not provider.threads.exists()

    again = run(support_client, CHANGELIST, "suspend_provider", [provider.pk], reason="Second click, by mistake")
    assert again.status_code == 302
    [email] = MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).filter(template="provider_suspended")
    assert email.to == [user.email] and "Repeated complaints about no-shows" in email.text_body
    assert "Repeated complaints about no-shows" in email.html_body and "Tidy Paws" in email.subject

    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        run(support_client, CHANGELIST, "reinstate_provider", [provider.pk], reason="Owner explained; resolved")
    assert found_ids() == [listing["id"]]
    assert provider.pk in public_provider_ids()
    assert Client().get(f"{PROVIDERS}{provider.pk}/").status_code == 200
    suspension = body(client.get(MINE))["suspension"]
    assert suspension["suspended"] is False and suspension["reason"] == "Owner explained; resolved"
    assert suspension["reinstated_at"]
    [reinstated] = MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).filter(template="provider_reinstated")
    assert reinstated.to == [user.email] and "Owner explained; resolved" in reinstated.text_body
    published = send_json(client, "patch", f"{LISTINGS}{draft['id']}/", {"action": "publish", "version": 1})
    assert published.status_code == 200, published.content
    bought = send_json(shopper, "post", PURCHASES, {"listing_id": listing["id"]}, **{"Idempotency-Key": "buy-s2"})
    assert bought.status_code == 201, bought.content

    audits = list(StaffActionAudit.objects.order_by("id").values_list("action", "target_id", "reason", "result"))
    assert [(a[0], a[1]) for a in audits] == [("suspend_provider", str(provider.pk))] * 2 + [
        ("reinstate_provider", str(provider.pk))
    ]
    assert audits[0][2:] == ("Repeated complaints about no-shows", "suspended")
    assert audits[1][3].startswith("refused") and audits[2][3] == "reinstated"


def test_a_reason_is_required_and_reinstating_an_unsuspended_provider_is_refused(support_client):
    client, user = provider_client()
    provider = Provider.objects.using(MARKETPLACE_DB).get(user__tenant_user_id=user.pk)
    form = {"action": "suspend_provider", "_selected_action": [provider.pk], "confirmed": "yes", "reason": ""}
    page = support_client.post(CHANGELIST, form)
    assert page.status_code == 200  # the confirmation page again, with the error
    assert body(client.get(MINE))["suspension"]["suspended"] is False
    assert not StaffActionAudit.objects.exists()

    run(support_client, CHANGELIST, "reinstate_provider", [provider.pk], reason="Nothing to lift here")
    [(result,)] = StaffActionAudit.objects.values_list("result")
    assert result.startswith("refused") and "not suspended" in result
    assert not MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).filter(template="provider_reinstated").exists()


def test_the_provider_list_shows_suspension_in_a_constant_number_of_queries(
    support_client, django_assert_max_num_queries
):
    for _ in range(2):
        provider_client()
    provider = Provider.objects.using(MARKETPLACE_DB).order_by("id").first()
    run(support_client, CHANGELIST, "suspend_provider", [provider.pk], reason="Checking the list column")
    support_client.get(CHANGELIST)  # warm the session and content type caches

    def queries() -> int:
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        with (
            CaptureQueriesContext(connections[TENANT_DB]) as d,
            CaptureQueriesContext(connections[MARKETPLACE_DB]) as m,
        ):
            page = support_client.get(CHANGELIST)
        assert page.status_code == 200
        return len(d) + len(m)

    few = queries()
    for _ in range(3):
        provider_client()
    assert queries() == few
