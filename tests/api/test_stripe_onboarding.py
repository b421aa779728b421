"""Stripe Connect onboarding through the API (tenant owners and service providers): the Express account
is made once, a hosted link comes back (fresh on refresh), and the state follows Stripe's signed
`account.updated` events (fake Stripe over real HTTP) or an explicit sync."""

from __future__ import annotations

import time

import pytest

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import AuthorizationAudit
from payments_app.models import StripeConnectAccount
from tests.api.conftest import bearer, body, member, send_json
from tests.api.test_provider_self_service import provider_client
from tests.fakes.stripe_server import signed_delivery
from tests.payments_app.conftest import WEBHOOK_SECRET, every_row
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

STATE = "/api/v1/tenants/me/stripe-account/"
START = "/api/v1/tenants/me/stripe-account/onboarding/"
REFRESH = "/api/v1/tenants/me/stripe-account/onboarding/refresh/"
SYNC = "/api/v1/tenants/me/stripe-account/sync/"
PROVIDER_STATE = "/api/v1/marketplace/providers/me/stripe-account/"
PROVIDER_START = "/api/v1/marketplace/providers/me/stripe-account/onboarding/"


def post(client, url, **headers):
    return send_json(client, "post", url, {}, **headers)


def deliver(client, event) -> None:
    """Stripe POSTs the signed event; the worker's processing runs here (tests/payments_app pattern)."""
    from payments_app import services
    from payments_app.models import StripeWebhookEvent

    payload, header = signed_delivery(event, WEBHOOK_SECRET)
    response = client.post(
        "/api/v1/payments/stripe/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200, response.content
    services.stripe_event_process(event_pk=StripeWebhookEvent.objects.get(stripe_event_id=event["id"]).pk)


class TestTenantOnboarding:
    def test_the_owner_starts_onboarding_and_gets_a_hosted_link_for_one_express_account(
        self, two_tenants, fake_stripe, settings
    ):
        tenant, _ = two_tenants
        client = bearer(tenant.owner_user)
        assert body(client.get(STATE))["status"] == "not_started"

        started = post(client, START)
        assert started.status_code == 201, started.content
        link = body(started)
        account_id = link["stripe_account"]["stripe_account_id"]
        assert link["object"] == "onboarding_link" and link["url"].startswith("https://connect.stripe.com/setup/")
        assert link["stripe_account"]["status"] == "pending" and link["stripe_account"]["ready"] is False
        assert "external_account" in link["stripe_account"]["requirements_currently_due"]
        remote = fake_stripe.objects["accounts"][account_id]
        assert (remote["type"], remote["metadata"]) == (
            "express",
            {"breederhq_owner_type": "tenant", "breederhq_tenant_id": str(tenant.pk)},
        )
        assert set(remote["capabilities"]) == {"card_payments", "transfers"}
        (made,) = fake_stripe.links_of(account_id)
        assert (made["type"], made["return_url"], made["refresh_url"]) == (
            "account_onboarding",
            settings.STRIPE_CONNECT_RETURN_URL.format(owner_type="tenant"),
            settings.STRIPE_CONNECT_REFRESH_URL.format(owner_type="tenant"),
        )
        creates = fake_stripe.requests_to("POST", "/v1/accounts")
        assert len(creates) == 1 and creates[0]["idempotency_key"]

        again = post(client, START)  # the account exists: a new link for it, no new account
        assert again.status_code == 200 and body(again)["stripe_account"]["stripe_account_id"] == account_id
        refreshed = post(client, REFRESH)
        assert refreshed.status_code == 200, refreshed.content
        assert len({link["url"], body(again)["url"], body(refreshed)["url"]}) == 3
        assert len(fake_stripe.requests_to("POST", "/v1/accounts")) == 1
        assert len(fake_stripe.links_of(account_id)) == 3
        assert every_row(StripeConnectAccount).filter(owner_tenant=tenant).count() == 1
        state = body(client.get(STATE))
        assert (state["stripe_account_id"], state["account_type"], state["charges_enabled"]) == (
            account_id,
            "express",
            False,
        )

    def test_only_the_owner_onboards_and_owners_and_admins_read(self, two_tenants, fake_stripe):
        tenant, _ = two_tenants
        admin, staff = member(tenant, "admin"), member(tenant, "staff")
        for user in (admin, staff):
            refused = post(bearer(user), START)
            assert (refused.status_code, body(refused)["code"]) == (403, "role_forbidden")
        assert bearer(admin).get(STATE).status_code == 200
        assert body(bearer(staff).get(STATE))["code"] == "role_forbidden"
        assert (
            AuthorizationAudit.objects.using(TENANT_DB).filter(allowed=False, resource_type="stripe_account").count()
            == 3
        )
        assert not fake_stripe.requests_to("POST", "/v1/accounts")
        assert not every_row(StripeConnectAccount).exists()

    def test_a_refresh_before_any_account_is_409(self, two_tenants, fake_stripe):
        response = post(bearer(two_tenants[0].owner_user), REFRESH)
        assert (response.status_code, body(response)["code"]) == (409, "stripe_account_missing")
        assert response["Content-Type"] == "application/problem+json"

    def test_stripe_down_is_503_with_nothing_stored_and_a_retry_makes_one_account(self, two_tenants, fake_stripe):
        tenant, _ = two_tenants
        client = bearer(tenant.owner_user)
        fake_stripe.fail_next(1, status=500)
        down = post(client, START)
        assert (down.status_code, body(down)["code"]) == (503, "stripe_unavailable")
        assert not every_row(StripeConnectAccount).exists()
        assert post(client, START).status_code == 201
        assert len(fake_stripe.objects["accounts"]) == 1
        assert every_row(StripeConnectAccount).count() == 1

    def test_an_answer_lost_to_a_timeout_is_replayed_by_the_retry_not_made_twice(self, two_tenants, fake_stripe):
        """Stripe made the account but its answer never arrived (the client timed out): nothing is
        stored, and the retry gets the same account back under the same idempotency key."""
        tenant, _ = two_tenants
        client = bearer(tenant.owner_user)
        fake_stripe.delay("POST", "/v1/accounts", 1.5)  # longer than STRIPE_TIMEOUT_SECONDS (1)
        lost = post(client, START)
        assert (lost.status_code, body(lost)["code"]) == (503, "stripe_unavailable")
        assert not every_row(StripeConnectAccount).exists()
        # Stripe finishes the request the client gave up on.
        wait_until(lambda: fake_stripe.objects["accounts"], timeout=5, interval=0.05)
        (made,) = fake_stripe.objects["accounts"]
        fake_stripe._latency.clear()
        retried = post(client, START)
        assert retried.status_code == 201, retried.content
        assert body(retried)["stripe_account"]["stripe_account_id"] == made
        assert [r["replayed"] for r in fake_stripe.requests_to("POST", "/v1/accounts")] == [False, True]
        assert len(fake_stripe.objects["accounts"]) == 1

    def test_account_updated_events_move_the_state_in_order(self, two_tenants, fake_stripe, client, settings):
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        tenant, _ = two_tenants
        owner = bearer(tenant.owner_user)
        account_id = body(post(owner, START))["stripe_account"]["stripe_account_id"]
        now = int(time.time())
        fake_stripe.complete_onboarding(
            account_id, charges=True, payouts=False, currently_due=["external_account"], past_due=["external_account"]
        )
        deliver(client, fake_stripe.account_updated(account_id, created=now - 30))
        restricted = body(owner.get(STATE))
        assert (
            restricted["status"],
            restricted["charges_enabled"],
            restricted["payouts_enabled"],
            restricted["requirements_past_due"],
            restricted["ready"],
        ) == ("restricted", True, False, ["external_account"], False)
        fake_stripe.complete_onboarding(account_id)
        deliver(client, fake_stripe.account_updated(account_id, created=now))
        older = fake_stripe.account_updated(account_id, created=now - 10)
        older["data"]["object"].update(charges_enabled=False, payouts_enabled=False)
        deliver(client, older)  # late and older: changes nothing
        enabled = body(owner.get(STATE))
        assert (
            enabled["status"],
            enabled["ready"],
            enabled["requirements_currently_due"],
            enabled["requirements_past_due"],
            enabled["disabled_reason"],
        ) == ("enabled", True, [], [], "")

    def test_sync_reads_the_account_from_stripe_and_an_older_event_does_not_undo_it(
        self, two_tenants, fake_stripe, client, settings
    ):
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        tenant, _ = two_tenants
        owner = bearer(tenant.owner_user)
        account_id = body(post(owner, START))["stripe_account"]["stripe_account_id"]
        stale = fake_stripe.account_updated(account_id, created=int(time.time()) - 60)  # still pending
        fake_stripe.complete_onboarding(account_id)
        synced = post(owner, SYNC)
        assert synced.status_code == 200, synced.content
        assert (body(synced)["status"], body(synced)["ready"]) == ("enabled", True)
        assert fake_stripe.requests_to("GET", f"/v1/accounts/{account_id}")
        deliver(client, stale)
        assert body(owner.get(STATE))["status"] == "enabled"


class TestProviderOnboarding:
    def test_a_service_provider_onboards_its_own_platform_account(self, fake_stripe):
        client, user = provider_client()
        assert body(client.get(PROVIDER_STATE))["status"] == "not_started"
        started = post(client, PROVIDER_START)
        assert started.status_code == 201, started.content
        account_id = body(started)["stripe_account"]["stripe_account_id"]
        row = every_row(StripeConnectAccount).get(stripe_account_id=account_id)
        assert (row.owner_type, row.owner_tenant_id, row.account_type) == ("provider", None, "express")
        assert fake_stripe.objects["accounts"][account_id]["metadata"] == {
            "breederhq_owner_type": "provider",
            "breederhq_provider_id": str(row.provider_id),
        }
        assert fake_stripe.links_of(account_id)[0]["return_url"].endswith("/provider/return")
        assert body(client.get(PROVIDER_STATE))["stripe_account_id"] == account_id

    def test_a_breeder_provider_is_sent_to_its_tenant(self, two_tenants, fake_stripe):
        tenant, _ = two_tenants
        client = bearer(tenant.owner_user)
        made = send_json(
            client,
            "post",
            "/api/v1/marketplace/providers/me/",
            {"business_name": "Sunny", "kind": "breeder", "tenant_id": tenant.pk},
        )
        assert made.status_code == 201, made.content
        client = bearer(tenant.owner_user)  # a token that knows the new marketplace identity
        for response in (client.get(PROVIDER_STATE), post(client, PROVIDER_START)):
            assert (response.status_code, body(response)["code"]) == (409, "breeder_uses_tenant_settings")
        assert not fake_stripe.requests_to("POST", "/v1/accounts")

    def test_someone_without_a_provider_profile_is_refused(self, two_tenants, fake_stripe):
        response = post(bearer(two_tenants[0].owner_user), PROVIDER_START)
        assert response.status_code == 403
        assert not fake_stripe.requests_to("POST", "/v1/accounts")
