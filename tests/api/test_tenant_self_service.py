"""Breeder businesses through the API: a verified account creates a tenant and owns it; the owner edits
its profile at a version; every change audited. And the journey from nothing to an issued invoice."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app.models import Invoice, Tenant, TenantMembership, TenantProfileAuditLog
from tests.api.conftest import bearer, body, member, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.tenant import TenantFactory, UserFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

TENANTS = "/api/v1/tenants/"
ME = "/api/v1/tenants/me/"


def create(client, payload, **headers):
    return send_json(client, "post", TENANTS, payload, **headers)


def refreshed(user) -> Client:
    """A client whose token names every tenant the user is in now (a new sign-in)."""
    return bearer(user)


def audit(tenant_id: int) -> list[tuple]:
    with tenant_context(tenant_id):
        return list(
            TenantProfileAuditLog.objects.order_by("id").values_list("action", "version", "changes", "changed_by_id")
        )


def test_a_verified_account_creates_a_tenant_and_owns_it():
    user = UserFactory()
    response = create(
        bearer(user),
        {
            "name": "Sunny Kennels",
            "contact_email": "hello@sunny.test",
            "default_currency": "EUR",
            "invoice_number_prefix": "SK-",
        },
        **{"Idempotency-Key": "create-1"},
    )
    assert response.status_code == 201, response.content
    created = body(response)
    assert (created["name"], created["role"], created["version"], response["ETag"]) == (
        "Sunny Kennels",
        "owner",
        1,
        '"1"',
    )
    assert created["slug"].startswith("sunny-kennels-")
    tenant = Tenant.objects.get(pk=created["id"])
    with tenant_context(tenant.pk):
        assert list(TenantMembership.objects.values_list("user_id", "role")) == [(user.pk, "owner")]
    [(action, version, changes, by)] = audit(tenant.pk)
    assert (action, version, by, changes["name"], changes["default_currency"]) == (
        "created",
        1,
        user.pk,
        [None, "Sunny Kennels"],
        [None, "EUR"],
    )
    # The same key replays; nothing new is made.
    again = create(
        bearer(user),
        {
            "name": "Sunny Kennels",
            "contact_email": "hello@sunny.test",
            "default_currency": "EUR",
            "invoice_number_prefix": "SK-",
        },
        **{"Idempotency-Key": "create-1"},
    )
    assert (again.status_code, body(again)["id"]) == (201, tenant.pk)
    assert Tenant.objects.filter(name="Sunny Kennels").count() == 1
    # After a new token, the owner works in it.
    me = refreshed(user).get(ME, HTTP_X_TENANT_ID=str(tenant.pk))
    assert (me.status_code, body(me)["invoice_number_prefix"]) == (200, "SK-")


def test_an_unverified_account_cannot_create_a_tenant():
    user = UserFactory(email_verified_at=None)
    before = Tenant.objects.count()
    response = create(bearer(user), {"name": "Nope Kennels"})
    assert (response.status_code, body(response)["code"]) == (403, "email_unverified")
    assert Tenant.objects.count() == before


def test_creating_a_tenant_needs_a_sign_in():
    assert create(Client(), {"name": "Anon"}).status_code == 401


BAD_TENANTS = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "Ok", "slug": "not a slug!"}, "slug"),
    ({"name": "Ok", "default_currency": "XXX"}, "default_currency"),
    ({"name": "Ok", "default_currency": 5}, "default_currency"),
    ({"name": "Ok", "invoice_number_prefix": "bad prefix"}, "invoice_number_prefix"),
    ({"name": "Ok", "invoice_number_prefix": "-X"}, "invoice_number_prefix"),
    ({"name": "Ok", "invoice_number_prefix": "A" * 13}, "invoice_number_prefix"),
    ({"name": "Ok", "contact_email": "nope"}, "contact_email"),
    ({"name": "Ok", "country": "usa"}, "country"),
    ({"name": "Ok", "phone": "1" * 41}, "phone"),
    ({"name": "Ok", "marketplace_payment_mode": "stripe"}, "marketplace_payment_mode"),
    ({"name": ["Ok"]}, "name"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_TENANTS)
def test_bad_tenant_input_is_a_400_and_stores_nothing(payload, field):
    user = UserFactory()
    before = Tenant.objects.count()
    response = create(bearer(user), payload)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in body(response)["errors"]
    assert Tenant.objects.count() == before


def test_a_taken_slug_is_a_field_error():
    TenantFactory(slug="taken-slug")
    response = create(bearer(UserFactory()), {"name": "Other", "slug": "taken-slug"})
    assert (response.status_code, list(body(response)["errors"])) == (400, ["slug"])


@pytest.mark.parametrize("raw", ["{oops", "[]", "null", "42"])
def test_malformed_tenant_bodies_are_400(raw):
    response = bearer(UserFactory()).post(TENANTS, raw, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"


# --- The profile --------------------------------------------------------------------------------------


def test_the_owner_edits_the_profile_at_a_version_and_each_change_is_audited():
    tenant = TenantFactory(name="Old Name")
    owner = bearer(tenant.owner_user)
    read = owner.get(ME)
    assert read["ETag"] == '"1"'
    changed = send_json(
        owner, "patch", ME, {"name": "New Name", "phone": "+1 555 0100", "country": "US"}, **{"If-Match": read["ETag"]}
    )
    assert changed.status_code == 200, changed.content
    assert (body(changed)["name"], body(changed)["version"], changed["ETag"]) == ("New Name", 2, '"2"')
    stale = send_json(owner, "patch", ME, {"name": "Lost Update", "version": 1})
    assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 2)
    assert Tenant.objects.get(pk=tenant.pk).name == "New Name"
    rows = audit(tenant.pk)
    assert rows[-1][:2] == ("updated", 2)
    assert rows[-1][2] == {"name": ["Old Name", "New Name"], "phone": ["", "+1 555 0100"], "country": ["", "US"]}
    assert rows[-1][3] == tenant.owner_user.pk


def test_a_change_without_a_version_is_refused():
    tenant = TenantFactory()
    response = send_json(bearer(tenant.owner_user), "patch", ME, {"name": "No Version"})
    assert (response.status_code, list(body(response)["errors"])) == (400, ["version"])


@pytest.mark.parametrize("role", ["admin", "staff", "viewer"])
def test_only_owners_edit_the_profile(role):
    tenant = TenantFactory(name="Kept")
    response = send_json(bearer(member(tenant, role)), "patch", ME, {"name": "Taken Over", "version": 1})
    assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
    assert Tenant.objects.get(pk=tenant.pk).name == "Kept"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "version": 1}, "name"),
        ({"default_currency": "ABC", "version": 1}, "default_currency"),
        ({"invoice_number_prefix": "has space", "version": 1}, "invoice_number_prefix"),
        ({"slug": "new-slug", "version": 1}, "slug"),
        ({"version": "one"}, "version"),
        ({"version": 0}, "version"),
    ],
)
def test_bad_profile_input_is_a_400_and_changes_nothing(payload, field):
    tenant = TenantFactory(name="Same")
    response = send_json(bearer(tenant.owner_user), "patch", ME, payload)
    assert response.status_code == 400 and field in body(response)["errors"], response.content
    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.name, stored.version) == ("Same", 1)
    assert [row[0] for row in audit(tenant.pk)] == []


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_simultaneous_edits_at_one_version_make_one_change():
    tenant = TenantFactory(name="Start")
    accesses = [sign_in(tenant.owner_user)["access"] for _ in range(3)]
    names = ["A", "B", "C"]

    def edit():
        name = names.pop()
        response = send_json(
            Client(headers={"Authorization": f"Bearer {accesses.pop()}"}), "patch", ME, {"name": name, "version": 1}
        )
        return response.status_code

    assert sorted(run_together(3, edit)) == [200, 409, 409]
    assert Tenant.objects.get(pk=tenant.pk).version == 2
    assert [row[0] for row in audit(tenant.pk)] == ["updated"]


def test_new_invoices_use_the_prefix_and_default_currency():
    tenant = TenantFactory()
    owner = bearer(tenant.owner_user)
    send_json(owner, "patch", ME, {"invoice_number_prefix": "SUN/", "default_currency": "GBP", "version": 1})
    contact = send_json(owner, "post", "/api/v1/contacts/", {"first_name": "Maya", "email": "maya@example.test"})
    invoice = send_json(
        owner,
        "post",
        "/api/v1/invoices/",
        {"contact_id": body(contact)["id"], "lines": [{"description": "Deposit", "unit_price_cents": 25000}]},
    )
    assert invoice.status_code == 201, invoice.content
    assert re.fullmatch(r"SUN/\d{6}", body(invoice)["invoice_number"]) and body(invoice)["currency"] == "GBP"


# --- The journey --------------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_new_breeder_goes_from_nothing_to_an_issued_invoice_through_the_api(start_celery_worker, tmp_path):
    """Sign up, confirm the address from the email a real worker delivered, create the business, bill
    a customer: nothing but HTTP."""

    from tests.fakes.email_backend import delivered

    start_celery_worker(EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend", FLAKY_EMAIL_DIR=str(tmp_path))
    anonymous = Client()
    email, password = "jo.breeder@example.test", "jo-has-a-good-password-7"
    signed_up = send_json(
        anonymous, "post", "/api/v1/auth/sign-up/", {"email": email, "password": password, "first_name": "Jo"}
    )
    assert signed_up.status_code == 202, signed_up.content
    tokens = body(send_json(anonymous, "post", "/api/v1/auth/token/", {"email": email, "password": password}))
    client = Client(headers={"Authorization": f"Bearer {tokens['access']}"})
    refused = send_json(client, "post", TENANTS, {"name": "Jo's Kennels"})
    assert (refused.status_code, body(refused)["code"]) == (403, "email_unverified")

    assert wait_until(lambda: delivered(tmp_path), timeout=40, interval=0.2)
    [message] = delivered(tmp_path)
    assert message["to"] == [email]
    token = re.search(r"code, if the app asks for it: (\S+)", message["body"]).group(1)
    assert send_json(anonymous, "post", "/api/v1/auth/verify-email/", {"token": token}).status_code == 200

    created = send_json(
        client, "post", TENANTS, {"name": "Jo's Kennels", "invoice_number_prefix": "JO-"}, **{"Idempotency-Key": "jo-1"}
    )
    assert created.status_code == 201, created.content
    tenant_id = body(created)["id"]
    pair = body(send_json(anonymous, "post", "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}))
    owner = Client(headers={"Authorization": f"Bearer {pair['access']}"})
    contact = send_json(owner, "post", "/api/v1/contacts/", {"first_name": "Maya", "email": "maya@example.test"})
    assert contact.status_code == 201, contact.content
    invoice = body(
        send_json(
            owner,
            "post",
            "/api/v1/invoices/",
            {"contact_id": body(contact)["id"], "lines": [{"description": "Puppy deposit", "unit_price_cents": 50000}]},
        )
    )
    sent = send_json(
        owner, "patch", f"/api/v1/invoices/{invoice['id']}/", {"action": "send", "version": invoice["version"]}
    )
    assert sent.status_code == 200, sent.content
    assert (body(sent)["status"], body(sent)["invoice_number"]) == ("sent", "JO-000001")
    with tenant_context(tenant_id):
        assert Invoice.objects.get(pk=invoice["id"]).status == "sent"
    assert json.loads(owner.get(ME).content)["name"] == "Jo's Kennels"
