"""Payment settings through the API: the tenant's marketplace payment mode (owners and admins) and a
service provider's own, read and changed at a version, audited, and Stripe mode refused until the
connected account can take payments (fake Stripe for the account's events)."""

from __future__ import annotations

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceUser, Provider, ProviderPaymentModeAudit
from tenant_app.models import Tenant, TenantProfileAuditLog
from tests.api.conftest import bearer, body, member, send_json
from tests.api.test_provider_self_service import provider_client
from tests.api.test_stripe_onboarding import deliver
from tests.payments_app.conftest import WEBHOOK_SECRET, connect_account

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

SETTINGS = "/api/v1/tenants/me/payment-settings/"
PROVIDER_SETTINGS = "/api/v1/marketplace/providers/me/payment-settings/"


def patch(client, url, data, **headers):
    return send_json(client, "patch", url, data, **headers)


def mode_audit(tenant) -> list[tuple]:
    with tenant_context(tenant.pk):
        return [
            (row.changes, row.changed_by_id, row.version)
            for row in TenantProfileAuditLog.objects.filter(
                tenant=tenant, changes__has_key="marketplace_payment_mode"
            ).order_by("id")
        ]


class TestTenantPaymentSettings:
    def test_an_owner_reads_and_changes_the_mode_at_a_version_and_it_is_audited(self, two_tenants):
        tenant, other = two_tenants
        client = bearer(tenant.owner_user)
        read = client.get(SETTINGS)
        assert read.status_code == 200
        assert (body(read)["payment_mode"], body(read)["version"], read["ETag"]) == ("manual", 1, '"1"')
        assert body(read)["stripe_account"]["status"] == "not_started"

        changed = patch(client, SETTINGS, {"payment_mode": "disabled", "version": 1})
        assert changed.status_code == 200, changed.content
        assert (body(changed)["payment_mode"], body(changed)["version"], changed["ETag"]) == ("disabled", 2, '"2"')
        back = patch(client, SETTINGS, {"payment_mode": "manual"}, **{"If-Match": '"2"'})
        assert (back.status_code, body(back)["version"]) == (200, 3)
        assert mode_audit(tenant) == [
            ({"marketplace_payment_mode": ["manual", "disabled"]}, tenant.owner_user.pk, 2),
            ({"marketplace_payment_mode": ["disabled", "manual"]}, tenant.owner_user.pk, 3),
        ]
        # The same version is the tenant's: /tenants/me/ sees the change.
        assert body(client.get("/api/v1/tenants/me/"))["version"] == 3
        assert Tenant.objects.get(pk=other.pk).marketplace_payment_mode == "manual"

    def test_setting_the_mode_it_has_changes_nothing(self, two_tenants):
        tenant, _ = two_tenants
        same = patch(bearer(tenant.owner_user), SETTINGS, {"payment_mode": "manual", "version": 1})
        assert (same.status_code, body(same)["version"]) == (200, 1)
        assert mode_audit(tenant) == []

    def test_a_stale_version_is_409_and_changes_nothing(self, two_tenants):
        tenant, _ = two_tenants
        client = bearer(tenant.owner_user)
        assert patch(client, SETTINGS, {"payment_mode": "disabled", "version": 1}).status_code == 200
        stale = patch(client, SETTINGS, {"payment_mode": "manual", "version": 1})
        assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 2)
        assert Tenant.objects.get(pk=tenant.pk).marketplace_payment_mode == "disabled"

    def test_admins_change_it_and_staff_and_viewers_only_read(self, two_tenants):
        tenant, _ = two_tenants
        admin = member(tenant, "admin")
        assert patch(bearer(admin), SETTINGS, {"payment_mode": "disabled", "version": 1}).status_code == 200
        for role in ("staff", "viewer"):
            client = bearer(member(tenant, role))
            assert client.get(SETTINGS).status_code == 200
            refused = patch(client, SETTINGS, {"payment_mode": "manual", "version": 2})
            assert (refused.status_code, body(refused)["code"]) == (403, "role_forbidden")
        assert Tenant.objects.get(pk=tenant.pk).marketplace_payment_mode == "disabled"
        assert [changes for changes, by, _ in mode_audit(tenant)] == [
            {"marketplace_payment_mode": ["manual", "disabled"]}
        ]

    @pytest.mark.parametrize(
        "data",
        [
            {"payment_mode": "paypal", "version": 1},
            {"payment_mode": "manual\x00"},
            {"payment_mode": "manual", "version": 10**30},
            {"version": 1},
            {"payment_mode": "manual", "version": 1, "extra": 1},
            {"payment_mode": ["stripe"], "version": 1},
            {"payment_mode": "manual"},
        ],
    )
    def test_bad_input_is_400(self, two_tenants, data):
        tenant, _ = two_tenants
        response = patch(bearer(tenant.owner_user), SETTINGS, data)
        assert (response.status_code, response["Content-Type"]) == (400, "application/problem+json"), response.content
        assert Tenant.objects.get(pk=tenant.pk).version == 1

    @pytest.mark.parametrize("if_match", ["nope", "", '"2"'])
    def test_a_bad_if_match_is_400(self, two_tenants, if_match):
        tenant, _ = two_tenants
        response = patch(
            bearer(tenant.owner_user), SETTINGS, {"payment_mode": "disabled", "version": 1}, **{"If-Match": if_match}
        )
        assert (response.status_code, body(response)["code"]) == (400, "validation_failed")
        assert Tenant.objects.get(pk=tenant.pk).version == 1

    def test_stripe_mode_waits_for_an_account_that_can_take_payments(self, two_tenants, fake_stripe, client, settings):
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        tenant, _ = two_tenants
        owner = bearer(tenant.owner_user)
        no_account = patch(owner, SETTINGS, {"payment_mode": "stripe", "version": 1})
        assert (no_account.status_code, body(no_account)["code"], body(no_account)["account_status"]) == (
            409,
            "stripe_account_not_ready",
            "not_started",
        )

        started = send_json(owner, "post", "/api/v1/tenants/me/stripe-account/onboarding/", {})
        account_id = body(started)["stripe_account"]["stripe_account_id"]
        pending = patch(owner, SETTINGS, {"payment_mode": "stripe", "version": 1})
        assert (pending.status_code, body(pending)["code"], body(pending)["account_status"]) == (
            409,
            "stripe_account_not_ready",
            "pending",
        )
        fake_stripe.complete_onboarding(account_id, payouts=False)  # charges alone are not enough
        deliver(client, fake_stripe.account_updated(account_id))
        assert body(patch(owner, SETTINGS, {"payment_mode": "stripe", "version": 1}))["code"] == (
            "stripe_account_not_ready"
        )
        assert (Tenant.objects.get(pk=tenant.pk).marketplace_payment_mode, mode_audit(tenant)) == ("manual", [])

        fake_stripe.complete_onboarding(account_id)
        deliver(client, fake_stripe.account_updated(account_id))
        ready = patch(owner, SETTINGS, {"payment_mode": "stripe", "version": 1})
        assert ready.status_code == 200, ready.content
        assert (body(ready)["payment_mode"], body(ready)["stripe_account"]["ready"]) == ("stripe", True)


class TestProviderPaymentSettings:
    def test_a_service_provider_changes_its_own_mode_at_a_version_audited(self, fake_stripe):
        client, user = provider_client()
        read = client.get(PROVIDER_SETTINGS)
        assert (read.status_code, body(read)["payment_mode"], read["ETag"]) == (200, "manual", '"1"')
        refused = patch(client, PROVIDER_SETTINGS, {"payment_mode": "stripe", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (409, "stripe_account_not_ready")

        provider = Provider.objects.get(user__tenant_user_id=user.pk)
        connect_account(provider=provider)  # an enabled account (the webhook path is tested above)
        changed = patch(client, PROVIDER_SETTINGS, {"payment_mode": "stripe"}, **{"If-Match": '"1"'})
        assert changed.status_code == 200, changed.content
        assert (body(changed)["payment_mode"], body(changed)["version"]) == ("stripe", 2)
        stale = patch(client, PROVIDER_SETTINGS, {"payment_mode": "manual", "version": 1})
        assert (stale.status_code, body(stale)["code"]) == (409, "version_conflict")
        identity = MarketplaceUser.objects.get(tenant_user_id=user.pk)
        assert [
            (a.old_mode, a.new_mode, a.version, a.changed_by_id)
            for a in ProviderPaymentModeAudit.objects.filter(provider=provider)
        ] == [("manual", "stripe", 2, identity.pk)]
        assert body(client.get("/api/v1/marketplace/providers/me/"))["payment_mode"] == "stripe"

    def test_a_breeder_provider_is_sent_to_its_tenant(self, two_tenants):
        tenant, _ = two_tenants
        made = send_json(
            bearer(tenant.owner_user),
            "post",
            "/api/v1/marketplace/providers/me/",
            {"business_name": "Sunny", "kind": "breeder", "tenant_id": tenant.pk},
        )
        assert made.status_code == 201
        client = bearer(tenant.owner_user)
        for response in (
            client.get(PROVIDER_SETTINGS),
            patch(client, PROVIDER_SETTINGS, {"payment_mode": "disabled", "version": 1}),
        ):
            assert (response.status_code, body(response)["code"]) == (409, "breeder_uses_tenant_settings")
        assert not ProviderPaymentModeAudit.objects.exists()
