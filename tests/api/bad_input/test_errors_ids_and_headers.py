"""Errors under /api/ are problem+json whatever DEBUG says; ids and versions past bigint in URLs and bodies,
and an X-Tenant-ID that cannot name a tenant, are a 4xx."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.api.bad_input.conftest import PROBLEM
from tests.api.conftest import bearer, body, send_json
from tests.factories.tenant import TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


# --- Errors under /api/ whatever DEBUG says -----------------------------------------------------


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "method,url,expected",
    [
        ("get", "/api/", 404),
        ("get", "/api/v1/", 404),
        ("get", "/api/v2/contacts/", 404),
        ("get", "/api/v1/no-such-thing/", 404),
        ("post", "/api/v1/nope", 404),
        ("get", "/api/v1/payments/stripe/webhook", 405),
        ("delete", "/api/v1/marketplace/listings/", 405),
    ],
)
def test_every_error_under_api_is_problem_json_whatever_debug_says(settings, debug, method, url, expected):
    settings.DEBUG = debug
    response = getattr(Client(), method)(url)
    assert response.status_code == expected
    assert response["Content-Type"] == PROBLEM
    problem = body(response)
    assert problem["status"] == expected and problem["code"] and problem["title"]


def test_a_crash_under_api_with_debug_on_is_a_problem_json_500(settings, monkeypatch):
    from marketplace_app.api import views

    settings.DEBUG = True

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.ListingDetailView, "get", boom)
    response = Client(raise_request_exception=False).get("/api/v1/marketplace/listings/goldens/")
    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM
    assert b"Traceback" not in response.content and body(response)["code"] == "server_error"


def _operations_with_ids() -> list[tuple[str, str]]:
    schema = json.loads(Client().get("/api/v1/schema/?format=json", HTTP_HOST="localhost").content)
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if "{" in path
        for method in operations
        if method in ("get", "post", "patch", "delete")
    ]


@pytest.mark.parametrize("method,path", _operations_with_ids(), ids=lambda value: str(value))
def test_an_id_past_bigint_in_any_url_is_a_4xx_problem(world, method, path):
    url = re.sub(r"\{\w+\}", "99999999999999999999999", path)
    client = world["client"]
    if method in ("GET", "DELETE"):
        response = getattr(client, method.lower())(url)
    else:
        response = getattr(client, method.lower())(url, "{}", content_type="application/json")
    assert 400 <= response.status_code < 500, (method, url, response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM


def test_a_refused_query_keeps_the_request_id(world):
    response = Client().get("/api/v1/marketplace/listings/?q=%00")
    assert response.status_code == 400 and response["X-Request-ID"]  # logged and traceable like any answer


@pytest.mark.parametrize(
    "method,url,payload",
    [
        ("post", "/api/v1/invoices/", {"contact_id": 10**20, "lines": [{"description": "x", "unit_price_cents": 1}]}),
        ("post", "/api/v1/contacts/", {"first_name": "A", "notes": "x" * 10}),
        ("post", "/api/v1/marketplace/blocks/", {"user_id": 10**20}),
        ("post", "/api/v1/marketplace/threads/", {"provider_id": 10**20, "body": "hi"}),
        ("post", "/api/v1/marketplace/transactions/", {"listing_id": 10**20}),
        (
            "post",
            "/api/v1/marketplace/invoices/",
            {"transaction_id": 10**20, "line_items": [{"description": "x", "unit_price_cents": 1}]},
        ),
        ("patch", "/api/v1/invoices/{invoice_id}/", {"version": 10**20, "notes": "x"}),
        ("patch", "/api/v1/marketplace/providers/me/", {"version": 10**20, "city": "x"}),
    ],
)
def test_ids_and_versions_past_bigint_in_a_body_are_a_4xx(world, method, url, payload):
    url = url.format(**world["ids"])
    response = send_json(world["client"], method, url, payload, **{"Idempotency-Key": f"k-{method}-{url}"})
    assert response.status_code < 500, (url, response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == PROBLEM


# --- X-Tenant-ID that cannot name a tenant --------------------------------------------------------------

BAD_TENANT_HEADERS = ["9" * 101, "1" * 20, str(2**63), "12a", "-1", "1 2", "x" * 300, "١٢"]


@pytest.mark.parametrize("value", BAD_TENANT_HEADERS)
@pytest.mark.parametrize("auth", ["bearer", "session"])
def test_an_x_tenant_id_that_is_no_tenant_id_is_a_400_naming_the_header(value, auth):
    from breederhq.models import AuthorizationAudit

    tenant = TenantFactory()
    if auth == "bearer":
        client = bearer(tenant.owner_user)
    else:
        client = Client()
        client.force_login(tenant.owner_user)
    response = client.get("/api/v1/contacts/", HTTP_X_TENANT_ID=value)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "X-Tenant-ID" in body(response)["errors"]
    # A well-formed id of a tenant the caller is not in is still a 403, audited with the id.
    stranger = TenantFactory()
    response = client.get("/api/v1/contacts/", HTTP_X_TENANT_ID=str(stranger.pk))
    assert response.status_code == 403
    assert AuthorizationAudit.objects.using(TENANT_DB).filter(resource_id=str(stranger.pk)).exists()


def test_an_authorization_audit_keeps_at_most_100_characters_of_any_resource_id():
    from breederhq.models import AuthorizationAudit
    from breederhq.tenancy import write_authorization_audit

    write_authorization_audit(
        user_id=None,
        resource_type="tenant",
        resource_id="7" * 500 + "\x00\ud800",
        action="access",
        allowed=False,
        reason="test",
    )
    assert AuthorizationAudit.objects.using(TENANT_DB).get().resource_id == "7" * 100
