"""Idempotency keys belong to the user *and* the tenant the request acted in; a replay gives back
the first answer's status, body and the headers a client relies on (breederhq/idempotency.py)."""

from __future__ import annotations

import pytest

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import IdempotencyKey
from breederhq.tenancy import tenant_context
from tenant_app.models import Contact, TenantMembership
from tests.api.conftest import bearer, body, send_json
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

CONTACTS, INVOICES = "/api/v1/contacts/", "/api/v1/invoices/"


@pytest.fixture
def user_in_two_tenants():
    a, b = TenantFactory(name="A"), TenantFactory(name="B")
    user = a.owner_user
    with tenant_context(b.pk):
        TenantMembership.objects.create(tenant=b, user=user, role="staff")
    return user, a, b


def contacts_of(tenant) -> list[str]:
    with tenant_context(tenant.pk):
        return sorted(Contact.objects.values_list("first_name", flat=True))


class TestKeysAreScopedToTheTenant:
    def test_the_same_key_in_another_tenant_is_a_new_request(self, user_in_two_tenants):
        user, a, b = user_in_two_tenants
        client = bearer(user)
        data = {"first_name": "Tom", "last_name": "Becker"}
        in_b = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K", "X-Tenant-ID": str(b.pk)})
        in_a = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K", "X-Tenant-ID": str(a.pk)})
        assert (in_b.status_code, in_a.status_code) == (201, 201)
        assert "Idempotent-Replayed" not in in_a
        assert body(in_a)["id"] != body(in_b)["id"]
        assert contacts_of(a) == ["Tom"] and contacts_of(b) == ["Tom"]
        # Each tenant's retry replays its own answer.
        again_a = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K", "X-Tenant-ID": str(a.pk)})
        again_b = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K", "X-Tenant-ID": str(b.pk)})
        assert again_a["Idempotent-Replayed"] == again_b["Idempotent-Replayed"] == "true"
        assert (body(again_a)["id"], body(again_b)["id"]) == (body(in_a)["id"], body(in_b)["id"])
        assert contacts_of(a) == ["Tom"] and contacts_of(b) == ["Tom"]
        contexts = sorted(IdempotencyKey.objects.using(TENANT_DB).filter(key="K").values_list("context", flat=True))
        assert contexts == sorted([f"tenant:{a.pk}", f"tenant:{b.pk}"])

    def test_the_tenant_header_is_part_of_the_request(self):
        # A user with one tenant may name it or not; the header is part of what the key stands for.
        a = TenantFactory(name="A")
        client = bearer(a.owner_user)
        data = {"first_name": "Tom", "last_name": "Becker"}
        first = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K2"})
        other = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "K2", "X-Tenant-ID": str(a.pk)})
        assert first.status_code == 201
        assert (other.status_code, body(other)["code"]) == (422, "idempotency_key_reused")
        assert contacts_of(a) == ["Tom"]

    def test_another_user_in_the_same_tenant_has_their_own_keys(self, user_in_two_tenants):
        user, a, _ = user_in_two_tenants
        colleague = TenantFactory(name="C").owner_user
        with tenant_context(a.pk):
            TenantMembership.objects.create(tenant=a, user=colleague, role="staff")
        data = {"first_name": "Tom", "last_name": "Becker"}
        headers = {"Idempotency-Key": "K3", "X-Tenant-ID": str(a.pk)}
        first = send_json(bearer(user), "post", CONTACTS, data, **headers)
        second = send_json(bearer(colleague), "post", CONTACTS, data, **headers)
        assert (first.status_code, second.status_code) == (201, 201)
        assert "Idempotent-Replayed" not in second
        assert contacts_of(a) == ["Tom", "Tom"]


class TestReplayHeaders:
    def test_a_replay_keeps_the_etag_and_content_type(self):
        a = TenantFactory(name="A")
        with tenant_context(a.pk):
            contact = ContactFactory(tenant=a)
        client = bearer(a.owner_user)
        data = {"contact_id": contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 50_000}]}
        first = send_json(client, "post", INVOICES, data, **{"Idempotency-Key": "inv-1"})
        replay = send_json(client, "post", INVOICES, data, **{"Idempotency-Key": "inv-1"})
        assert first.status_code == replay.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        assert first["ETag"] == replay["ETag"] == '"1"'
        assert replay["Content-Type"] == first["Content-Type"]
        assert body(replay) == body(first)

    def test_a_replayed_error_keeps_its_problem_content_type(self):
        a = TenantFactory(name="A")
        client = bearer(a.owner_user)
        first = send_json(client, "post", INVOICES, {"contact_id": 0, "lines": []}, **{"Idempotency-Key": "bad"})
        replay = send_json(client, "post", INVOICES, {"contact_id": 0, "lines": []}, **{"Idempotency-Key": "bad"})
        assert first.status_code == replay.status_code
        assert 400 <= replay.status_code < 500
        assert replay["Content-Type"] == first["Content-Type"] == "application/problem+json"
        assert replay["Idempotent-Replayed"] == "true"


class TestRowsFromBeforeTheUpgrade:
    def test_a_key_stored_without_a_context_still_replays(self):
        """A row written by the previous release (context '', fingerprint without the tenant
        header) is honoured for the rest of its lifetime: a retry across the upgrade runs once."""
        a = TenantFactory(name="A")
        client = bearer(a.owner_user)
        data = {"first_name": "Tom", "last_name": "Becker"}
        first = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "old"})
        row = IdempotencyKey.objects.using(TENANT_DB).get(key="old")
        import json

        from breederhq.idempotency import request_fingerprint

        legacy = request_fingerprint(
            method="POST", path=CONTACTS, content_type="application/json", body=json.dumps(data).encode()
        )
        IdempotencyKey.objects.using(TENANT_DB).filter(pk=row.pk).update(
            context="", request_fingerprint=legacy, response_headers={}
        )
        replay = send_json(client, "post", CONTACTS, data, **{"Idempotency-Key": "old"})
        assert replay.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        assert body(replay)["id"] == body(first)["id"]
        assert contacts_of(a) == ["Tom"]

    def test_a_key_stored_without_a_context_is_not_replayed_into_another_tenant(self, user_in_two_tenants):
        """For a user of several tenants an old row cannot say which tenant it acted in: the key is
        refused (422, use a new key) instead of answering tenant B's request with tenant A's contact."""
        import json

        from breederhq.idempotency import request_fingerprint

        user, a, b = user_in_two_tenants
        data = {"first_name": "Ann", "last_name": "Old"}
        first = send_json(bearer(user, tenant_id=a.pk), "post", CONTACTS, data, **{"Idempotency-Key": "old-2"})
        assert first.status_code == 201
        row = IdempotencyKey.objects.using(TENANT_DB).get(key="old-2")
        legacy = request_fingerprint(
            method="POST", path=CONTACTS, content_type="application/json", body=json.dumps(data).encode()
        )
        IdempotencyKey.objects.using(TENANT_DB).filter(pk=row.pk).update(
            context="", request_fingerprint=legacy, response_headers={}
        )
        other = send_json(bearer(user, tenant_id=b.pk), "post", CONTACTS, data, **{"Idempotency-Key": "old-2"})
        assert (other.status_code, body(other)["code"]) == (422, "idempotency_key_reused")
        assert contacts_of(b) == []
        assert body(other).get("id") != body(first)["id"]


class TestMarketplaceKeys:
    def test_a_marketplace_key_is_scoped_to_the_marketplace_identity(self):
        from marketplace_app import services as marketplace_services
        from tests.api.test_marketplace_endpoints import M, person, provider_with_login

        _, provider = provider_with_login()
        buyer_login, buyer = person()
        thread = marketplace_services.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hi")
        url = f"{M}threads/{thread.pk}/messages/"
        client = bearer(buyer_login)
        first = send_json(client, "post", url, {"body": "paid?"}, **{"Idempotency-Key": "m-K"})
        again = send_json(client, "post", url, {"body": "paid?"}, **{"Idempotency-Key": "m-K"})
        assert first.status_code == again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again["Content-Type"] == first["Content-Type"]
        row = IdempotencyKey.objects.using(MARKETPLACE_DB).get(key="m-K")
        assert row.context == f"marketplace:{buyer.pk}"
