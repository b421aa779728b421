"""Staff hide a listing in the admin with a reason and reinstate it: the provider is emailed once per
step, the action is audited, the listing leaves (and returns to) public search, including a cached
search, and the provider sees the state and reason through its own API but cannot publish meanwhile."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import MarketplaceDbOutboundEmail
from marketplace_app.models import Provider, ServiceListing
from tests.api.conftest import body, send_json
from tests.api.test_provider_self_service import GROOMING, LISTINGS, provider_client
from tests.backoffice.test_actions import run

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

CHANGELIST = reverse("admin:marketplace_app_servicelisting_changelist")
SEARCH = "/api/v1/marketplace/listings/"


def published_listing(client) -> dict:
    listing = body(send_json(client, "post", LISTINGS, GROOMING))
    published = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": 1})
    assert published.status_code == 200, published.content
    return body(published)


def found_ids() -> list[int]:
    return [row["id"] for row in body(Client().get(SEARCH, {"q": "groom"}))["results"]]


def test_hide_and_reinstate_through_the_admin(support_client, settings, django_capture_on_commit_callbacks):
    settings.LISTING_SEARCH_CACHE_SECONDS = 60  # the hide must invalidate a cached search too
    from breederhq import request_redis

    request_redis.client().delete(
        *request_redis.client().keys(f"{request_redis.key_prefix()}:listing-search:*") or ["-"]
    )
    client, user = provider_client()
    listing = published_listing(client)
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        assert found_ids() == [listing["id"]]  # now cached

    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        response = run(
            support_client, CHANGELIST, "hide_listing", [listing["id"]], reason="Photos show a different animal"
        )
    assert response.status_code == 302
    stored = ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing["id"])
    assert stored.status == "paused" and stored.moderation.hidden
    assert Provider.objects.using(MARKETPLACE_DB).get(user__tenant_user_id=user.pk).total_listings == 0
    assert found_ids() == []
    assert Client().get(f"{SEARCH}{listing['slug']}/").status_code == 404

    own = body(client.get(f"{LISTINGS}{listing['id']}/"))
    assert own["moderation"]["hidden"] is True and own["moderation"]["reason"] == "Photos show a different animal"
    assert body(client.get(LISTINGS))["results"][0]["moderation"]["hidden"] is True
    refused = send_json(
        client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": own["version"]}
    )
    assert (refused.status_code, body(refused)["code"]) == (409, "listing_hidden")

    again = run(support_client, CHANGELIST, "hide_listing", [listing["id"]], reason="Second try, by mistake")
    assert again.status_code == 302
    emails = MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).filter(template="listing_hidden")
    [email] = emails
    assert email.to == [user.email] and "Photos show a different animal" in email.text_body

    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        run(support_client, CHANGELIST, "reinstate_listing", [listing["id"]], reason="Owner sent the right photos")
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing["id"]).status == "active"
    assert found_ids() == [listing["id"]]
    assert body(client.get(f"{LISTINGS}{listing['id']}/"))["moderation"]["hidden"] is False
    [reinstated] = MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).filter(template="listing_reinstated")
    assert "Owner sent the right photos" in reinstated.text_body

    audits = list(StaffActionAudit.objects.order_by("id").values_list("action", "target_id", "reason", "result"))
    assert [(a[0], a[1]) for a in audits] == [("hide_listing", str(listing["id"]))] * 2 + [
        ("reinstate_listing", str(listing["id"]))
    ]
    assert audits[1][3].startswith("refused") and audits[0][2] == "Photos show a different animal"


def test_a_reason_is_required(support_client):
    client, _ = provider_client()
    listing = published_listing(client)
    form = {"action": "hide_listing", "_selected_action": [listing["id"]], "confirmed": "yes", "reason": ""}
    page = support_client.post(CHANGELIST, form)
    assert page.status_code == 200  # the confirmation page again, with the error
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing["id"]).status == "active"
    assert not StaffActionAudit.objects.exists()


def test_a_hidden_draft_stays_a_draft_and_cannot_be_published(support_client):
    client, _ = provider_client()
    draft = body(send_json(client, "post", LISTINGS, GROOMING))
    run(support_client, CHANGELIST, "hide_listing", [draft["id"]], reason="Misleading title")
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=draft["id"]).status == "draft"
    refused = send_json(client, "patch", f"{LISTINGS}{draft['id']}/", {"action": "publish", "version": 1})
    assert (refused.status_code, body(refused)["code"]) == (409, "listing_hidden")
    run(support_client, CHANGELIST, "reinstate_listing", [draft["id"]], reason="Fixed")
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=draft["id"]).status == "draft"
    assert (
        send_json(client, "patch", f"{LISTINGS}{draft['id']}/", {"action": "publish", "version": 1}).status_code == 200
    )
