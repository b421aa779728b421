"""Sign-in, refresh, revoke; the tenant context and roles a token leads to."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit
from breederhq.tenancy import tenant_context
from tenant_app.models import Contact, TenantMembership
from tests.api.conftest import PASSWORD, bearer, body, member, send_json, sign_in
from tests.factories.marketplace import MarketplaceUserFactory
from tests.factories.tenant import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
TOKEN, REFRESH, REVOKE = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/token/revoke/"
CONTACTS = "/api/v1/contacts/"


def claims(access: str) -> dict:
    return jwt.decode(access, options={"verify_signature": False})


def settings_on_connection() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.current_tenant_id', true), current_setting('app.current_user_id', true)"
        )
        return tuple(v or "" for v in cursor.fetchone())


class TestTokens:
    def test_sign_in_gives_a_pair_whose_claims_name_the_tenants_and_the_marketplace_identity(self, two_tenants):
        a, b = two_tenants
        user = a.owner_user
        with tenant_context(b.pk):
            TenantMembership.objects.create(tenant=b, user=user, role="viewer")
        buyer = MarketplaceUserFactory(kind="buyer", tenant_user_id=user.pk)
        pair = sign_in(user)
        access = claims(pair["access"])
        assert (access["user_id"], access["tenants"], access["mku"], access["mkk"]) == (
            str(user.pk),
            sorted([a.pk, b.pk]),
            buyer.pk,
            "buyer",
        )
        assert claims(pair["refresh"])["token_type"] == "refresh"

    def test_wrong_password_and_unknown_email_are_the_same_401(self, two_tenants):
        a, _ = two_tenants
        for email, password in ((a.owner_user.email, "wrong"), ("nobody@example.test", PASSWORD)):
            response = send_json(Client(), "post", TOKEN, {"email": email, "password": password})
            assert response.status_code == 401
            assert response["Content-Type"] == "application/problem+json"
            assert body(response)["code"] == "authentication_failed"

    def test_inactive_user_cannot_sign_in(self):
        user = UserFactory(is_active=False)
        assert send_json(Client(), "post", TOKEN, {"email": user.email, "password": PASSWORD}).status_code == 401

    @pytest.mark.parametrize("payload", ["{not json", "[]", '{"email": 5}', '{"email": "x@y.test"}', "null"])
    def test_malformed_sign_in_is_a_problem_not_a_500(self, payload):
        response = send_json(Client(), "post", TOKEN, payload)
        assert response.status_code == 400
        assert body(response)["code"] in {"malformed_request", "validation_failed"}

    def test_refresh_rotates_and_the_used_refresh_token_is_dead(self, two_tenants):
        a, _ = two_tenants
        pair = sign_in(a.owner_user)
        response = send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]})
        assert response.status_code == 200
        fresh = body(response)
        assert fresh["refresh"] != pair["refresh"]
        assert claims(fresh["access"])["tenants"] == [a.pk]
        again = send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]})
        assert again.status_code == 401
        assert body(again)["code"] == "authentication_failed"

    def test_revoke_kills_the_refresh_token(self, two_tenants):
        a, _ = two_tenants
        pair = sign_in(a.owner_user)
        assert send_json(Client(), "post", REVOKE, {"refresh": pair["refresh"]}).status_code == 204
        assert send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}).status_code == 401

    def test_an_access_token_is_not_a_refresh_token_and_garbage_is_401(self, two_tenants):
        a, _ = two_tenants
        pair = sign_in(a.owner_user)
        assert send_json(Client(), "post", REFRESH, {"refresh": pair["access"]}).status_code == 401
        assert send_json(Client(), "post", REFRESH, {"refresh": "x.y.z"}).status_code == 401
        response = Client(headers={"Authorization": "Bearer x.y.z"}).get(CONTACTS)
        assert response.status_code == 401
        assert body(response)["code"] == "authentication_failed"

    def test_a_token_signed_with_another_key_is_refused(self, two_tenants):
        a, _ = two_tenants
        forged = jwt.encode(
            {**claims(sign_in(a.owner_user)["access"])}, "another-key-that-is-long-enough-for-hs256", algorithm="HS256"
        )
        assert Client(headers={"Authorization": f"Bearer {forged}"}).get(CONTACTS).status_code == 401
        assert settings.SIMPLE_JWT["SIGNING_KEY"] != "another-key-that-is-long-enough-for-hs256"

    def test_me_lists_memberships_and_marketplace_identity(self, two_tenants):
        a, _ = two_tenants
        response = bearer(a.owner_user).get("/api/v1/auth/me/")
        verified_at = body(response).pop("email_verified_at")
        assert verified_at is not None  # test people have confirmed their address
        assert {k: v for k, v in body(response).items() if k != "email_verified_at"} == {
            "id": a.owner_user.pk,
            "email": a.owner_user.email,
            "memberships": [{"tenant_id": a.pk, "tenant_name": "A", "role": "owner"}],
            "marketplace_user_id": None,
            "marketplace_kind": None,
        }
        assert settings_on_connection() == ("", "")


class TestTenantContextFromToken:
    def test_a_token_sees_only_its_tenants_rows_and_the_context_is_cleared(self, two_tenants):
        a, b = two_tenants
        with tenant_context(a.pk):
            ContactFactory(tenant=a, first_name="Ann", last_name="Alpha")
        with tenant_context(b.pk):
            ContactFactory(tenant=b, first_name="Bob", last_name="Beta")
        response = bearer(a.owner_user).get(CONTACTS)
        assert response.status_code == 200
        assert [c["display_name"] for c in body(response)["results"]] == ["Ann Alpha"]
        assert settings_on_connection() == ("", "")

    def test_naming_another_tenant_is_403_audited_and_shows_nothing(self, two_tenants):
        a, b = two_tenants
        response = bearer(a.owner_user, tenant_id=b.pk).get(CONTACTS)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        audit = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (audit.user_id, audit.resource_type, audit.resource_id, audit.allowed) == (
            a.owner_user.pk,
            "tenant",
            str(b.pk),
            False,
        )
        assert settings_on_connection() == ("", "")

    def test_a_membership_added_after_sign_in_needs_a_refresh(self, two_tenants):
        a, b = two_tenants
        user = a.owner_user
        pair = sign_in(user)
        with tenant_context(b.pk):
            TenantMembership.objects.create(tenant=b, user=user, role="staff")
        response = bearer(access=pair["access"], tenant_id=b.pk).get(CONTACTS)
        assert (response.status_code, body(response)["code"]) == (403, "tenant_not_in_token")
        fresh = body(send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}))
        assert bearer(access=fresh["access"], tenant_id=b.pk).get(CONTACTS).status_code == 200

    def test_a_removed_membership_stops_working_at_once(self, two_tenants):
        a, _ = two_tenants
        user = member(a, "staff")
        access = sign_in(user)["access"]
        with tenant_context(a.pk):
            TenantMembership.objects.filter(user=user).delete()
        response = bearer(access=access).get(CONTACTS)
        assert (response.status_code, body(response)["code"]) == (403, "no_tenant")

    def test_a_service_provider_never_reaches_tenant_endpoints(self, two_tenants):
        a, _ = two_tenants
        groomer = member(a, "staff")  # even with a membership
        MarketplaceUserFactory(kind="service_provider", tenant_user_id=groomer.pk)
        for client in (bearer(groomer), _session(groomer)):
            response = client.get(CONTACTS)
            assert (response.status_code, body(response)["code"]) == (403, "not_a_breeder")
        audits = list(AuthorizationAudit.objects.using(TENANT_DB).values_list("user_id", "reason", "allowed"))
        assert audits == [(groomer.pk, "service provider (not a breeder) reaching a tenant endpoint", False)] * 2

    def test_anonymous_is_401(self):
        response = Client().get(CONTACTS)
        assert (response.status_code, body(response)["code"]) == (401, "not_authenticated")
        assert not AuthorizationAudit.objects.using(TENANT_DB).exists()


def _session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


class TestRoles:
    def test_a_viewer_reads_but_cannot_write(self, two_tenants):
        a, _ = two_tenants
        viewer = member(a, "viewer")
        client = bearer(viewer)
        assert client.get(CONTACTS).status_code == 200
        response = send_json(client, "post", CONTACTS, {"first_name": "New", "last_name": "Person"})
        assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
        with tenant_context(a.pk):
            assert Contact.objects.count() == 0
        audit = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (audit.resource_type, audit.action, audit.reason) == (
            "contacts",
            "create",
            "role viewer may not POST here",
        )

    @pytest.mark.parametrize("role, allowed", [("owner", True), ("admin", True), ("staff", False), ("viewer", False)])
    def test_only_owner_and_admin_delete_contacts(self, two_tenants, role, allowed):
        a, _ = two_tenants
        with tenant_context(a.pk):
            contact = ContactFactory(tenant=a)
        response = bearer(member(a, role) if role != "owner" else a.owner_user).delete(f"{CONTACTS}{contact.pk}/")
        assert response.status_code == (204 if allowed else 403)
        with tenant_context(a.pk):
            assert Contact.objects.filter(pk=contact.pk).exists() is not allowed
