"""Bad input gets a clear 4xx problem+json and never a 5xx: paging parameters on every list (found
from the served schema, so a new list is covered by itself), query strings with NUL or absurd
lengths, bodies that are not JSON, NUL in JSON strings, money past its bounds, and errors under
/api/ whatever DEBUG says."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.money import MAX_AMOUNT_CENTS, MAX_QUANTITY
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from tenant_app.models import Invoice
from tests.api.conftest import bearer, body, send_json
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
PROBLEM = "application/problem+json"


def _list_operations() -> list[tuple[str, tuple[str, ...]]]:
    """Every GET in the served schema that takes paging parameters: (path, the paging params)."""
    schema = json.loads(Client().get("/api/v1/schema/?format=json", HTTP_HOST="localhost").content)
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        names = tuple(p["name"] for p in get.get("parameters", []) if p["name"] in ("page", "page_size", "cursor"))
        if names:
            found.append((path, names))
    return found


LISTS = _list_operations()


@pytest.fixture
def world():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
        invoice = make_invoice(contact=contact)
    identity = MarketplaceUserFactory(kind="breeder", tenant_user_id=tenant.owner_user.pk)
    provider = ProviderFactory(user=identity, breeder=True, tenant_id=tenant.pk)
    make_listing(provider, slug="goldens")
    make_transaction(provider)
    thread = marketplace_services.message_thread_open(
        buyer_id=MarketplaceUserFactory().pk, provider_id=provider.pk, body="Hello"
    )
    # A marketplace invoice the owner's identity is the buyer of (a groomer, not a breeder, bills
    # with marketplace invoices): its timeline is one of the lists.
    sale = make_transaction(ProviderFactory(), identity)
    marketplace_invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=sale.pk, line_items=[marketplace_services.LineItem("Grooming", 100)]
    )
    ids = {"invoice_id": invoice.pk, "thread_id": thread.pk, "marketplace_invoice_id": marketplace_invoice.pk}
    return {"client": bearer(tenant.owner_user), "ids": ids, "tenant": tenant, "contact": contact, "provider": provider}


def _url(path: str, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        if name == "invoice_id" and path.startswith("/api/v1/marketplace/"):
            name = "marketplace_invoice_id"
        assert name in ids, f"test_bad_input.world needs an id for {{{name}}} (a new list endpoint: add one)"
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", fill, path)


def test_the_schema_lists_the_paginated_endpoints():
    paths = {path for path, _ in LISTS}
    assert {
        "/api/v1/marketplace/listings/",
        "/api/v1/contacts/",
        "/api/v1/marketplace/threads/",
        "/api/v1/marketplace/threads/{thread_id}/messages/",
        "/api/v1/invoices/",
    } <= paths


BAD_NUMBERS = [
    "99999999999999999999999",
    "9223372036854775808",
    "1000001",
    "-1",
    "-99999999999999999999",
    "0",
    "abc",
    "1.5",
    "1e3",
    "1 2",
    "０",
    "１",
    "%00",
    "1%00",
    "x" * 5000,
    "9" * 900,
]


@pytest.mark.parametrize("path,params", LISTS, ids=[path for path, _ in LISTS])
def test_every_list_refuses_bad_paging_parameters_with_a_problem(world, path, params):
    client, url = world["client"], _url(path, world["ids"])
    assert client.get(url).status_code == 200  # the list itself is reachable: the paging is what is tested
    for param in params:
        for value in BAD_NUMBERS if param != "cursor" else BAD_CURSORS:
            response = client.get(f"{url}?{param}={value}")
            if param == "cursor" and response.status_code == 200:
                continue  # a cursor that means nothing to this list's style reads the first page
            assert response.status_code in (400, 404), (param, value, response.status_code, response.content[:300])
            assert response["Content-Type"] == PROBLEM, (param, value)
            if response.status_code == 400:
                assert param in body(response).get("errors", {}), (param, value, body(response))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


#: Cursors: NUL, too long, DRF's cursor with a position that is not a time, ours with an id past BIGINT.
BAD_CURSORS = [
    "%00",
    "x" * 5000,
    _b64("p=not-a-date"),
    _b64("o=99999999999999999999&p=2026-01-01"),
    _b64("2026-01-01T00:00:00+00:00|99999999999999999999"),
    _b64("2026-01-01T00:00:00+00:00|-5"),
]


def test_a_cursor_past_bigint_or_not_a_time_is_refused_not_a_500(world):
    client = world["client"]
    response = client.get(f"/api/v1/marketplace/transactions/?as=provider&cursor={BAD_CURSORS[4]}")
    assert response.status_code == 400 and "cursor" in body(response)["errors"]
    response = client.get(f"/api/v1/marketplace/threads/?cursor={BAD_CURSORS[2]}")
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM


def test_an_anonymous_huge_page_on_the_public_search_is_a_400_not_a_500(world):
    response = Client().get("/api/v1/marketplace/listings/?page=99999999999999999999999")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert body(response)["errors"] == {"page": ["must be a whole number from 1 to 1000000"]}


def test_a_page_past_the_end_is_a_404_and_page_size_is_bounded(world):
    client = world["client"]
    assert client.get("/api/v1/contacts/?page=5").status_code == 404
    assert client.get("/api/v1/contacts/?page_size=100").status_code == 200
    response = client.get("/api/v1/contacts/?page_size=101")
    assert response.status_code == 400 and "page_size" in body(response)["errors"]


@pytest.mark.parametrize(
    "query",
    [
        "q=a%00b",
        "state=%00",
        "category=" + "x" * 5000,
        "q=" + "y" * 1001,
        "%00=1",
        "k" * 200 + "=1",
        "price_min_cents=99999999999999999999999",
    ],
)
def test_query_strings_with_nul_or_absurd_lengths_are_a_400(world, query):
    urls = ["/api/v1/marketplace/listings/"] + ([] if query.startswith("price") else ["/api/v1/marketplace/providers/"])
    for url in urls:
        response = Client().get(f"{url}?{query}")
        assert response.status_code == 400, (url, query, response.content[:300])
        assert response["Content-Type"] == PROBLEM
    if not query.startswith("price"):  # any endpoint: the tenant's contacts too
        response = world["client"].get(f"/api/v1/contacts/?{query}")
        assert response.status_code == 400 and response["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    "value,status",
    [
        ("0059-09-21T09:16:22-18:49", 200),
        ("2026-01-01T00:00:00%2B23:59", 200),
        ("0001-01-01T00:00:00%2B18:00", 400),
        ("9999-12-31T23:59:59-18:00", 400),
    ],
)
def test_a_time_filter_with_an_offset_postgresql_refuses_is_not_a_500(world, value, status):
    response = world["client"].get(f"/api/v1/invoices/?created_before={value}")
    assert response.status_code == status, response.content[:300]
    if status == 400:
        assert response["Content-Type"] == PROBLEM and "created_before" in body(response)["errors"]


def test_a_boolean_filter_refuses_what_is_not_a_boolean(world):
    client = world["client"]
    assert client.get("/api/v1/invoices/?is_marketplace_invoice=false").status_code == 200
    response = client.get("/api/v1/invoices/?is_marketplace_invoice=null")
    assert response.status_code == 400 and "is_marketplace_invoice" in body(response)["errors"]


# --- Bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type,payload",
    [
        ("text/plain", "first_name=Ann"),
        ("application/x-www-form-urlencoded", "first_name=Ann"),
        (
            "multipart/form-data; boundary=xx",
            '--xx\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nAnn\r\n--xx--\r\n',
        ),
        ("application/xml", "<contact/>"),
    ],
)
def test_a_body_that_is_not_json_is_a_415(world, content_type, payload):
    response = world["client"].post("/api/v1/contacts/", payload, content_type=content_type)
    assert response.status_code == 415, response.content
    assert response["Content-Type"] == PROBLEM
    assert body(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("payload", ['{"first_name": ', "[1, 2", '{"a": NaN}', "[" * 100_000 + "]" * 100_000])
def test_malformed_json_is_a_400(world, payload):
    response = world["client"].post("/api/v1/contacts/", payload, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == PROBLEM


def test_nul_in_a_json_string_is_a_400_naming_the_field(world):
    client, contact = world["client"], world["contact"]
    response = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": contact.pk,
            "lines": [
                {"description": "ok", "unit_price_cents": 1},
                {"description": "bad\u0000", "unit_price_cents": 1},
            ],
        },
    )
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "lines[1].description" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/contacts/", {"first_name": "A", "notes": "x\u0000y"})
    assert response.status_code == 400 and "notes" in body(response)["errors"]


def test_a_lone_surrogate_in_a_json_string_or_key_is_a_400_naming_the_field(world):
    """JSON's \\ud800 escape decodes to a string no database encoding takes: 400, never a 500."""
    client = world["client"]
    response = send_json(client, "post", "/api/v1/contacts/", '{"first_name": "A", "notes": "x\\ud800y"}')
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert "notes" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/contacts/", '{"first_name": "A", "n\\udc00": 1}')
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert list(body(response)["errors"]) == ["n\\udc00"]


# --- Money bounds -------------------------------------------------------------------------------


def test_a_line_whose_total_passes_the_bound_is_a_400_not_a_bigint_overflow(world):
    client, contact = world["client"], world["contact"]
    response = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": contact.pk,
            "lines": [{"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}],
        },
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "lines[0].quantity" in body(response)["errors"]
    with tenant_context(world["tenant"].pk):
        assert not Invoice.objects.exists() or Invoice.objects.count() == 1  # the fixture's only


def test_lines_whose_sum_passes_the_bound_are_a_400(world):
    client, contact = world["client"], world["contact"]
    line = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS // 2 + 1, "quantity": 1}
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [line, line]})
    assert response.status_code == 400 and "lines" in body(response)["errors"]
    # Each field inside the schema's bounds, the line totals and their sum past BIGINT.
    big = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [big] * 2})
    assert response.status_code == 400
    at_bound = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": 1}
    response = send_json(
        client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [at_bound], "tax_cents": 1}
    )
    assert response.status_code == 400 and "tax_cents" in body(response)["errors"]
    response = send_json(client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [at_bound]})
    assert response.status_code == 201, response.content
    assert body(response)["total_cents"] == MAX_AMOUNT_CENTS


def test_a_draft_update_past_the_bound_is_a_400(world):
    client = world["client"]
    invoice_id = world["ids"]["invoice_id"]
    current = body(client.get(f"/api/v1/invoices/{invoice_id}/"))
    response = send_json(
        client,
        "patch",
        f"/api/v1/invoices/{invoice_id}/",
        {"version": current["version"], "lines": [{"description": "x", "unit_price_cents": 10**13, "quantity": 10**6}]},
    )
    assert response.status_code == 400 and "lines[0].quantity" in body(response)["errors"]
    response = send_json(
        client,
        "patch",
        f"/api/v1/invoices/{invoice_id}/",
        {"version": current["version"], "tax_cents": MAX_AMOUNT_CENTS},
    )
    assert response.status_code == 400 and "tax_cents" in body(response)["errors"]


def test_a_marketplace_invoice_past_the_bound_is_a_400():
    from tests.api.test_marketplace_endpoints import provider_with_login

    login, provider = provider_with_login()
    tx = make_transaction(provider)
    client = bearer(login)
    big = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}
    response = send_json(
        client, "post", "/api/v1/marketplace/invoices/", {"transaction_id": tx.pk, "line_items": [big]}
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert "line_items[0].quantity" in body(response)["errors"]
    half = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS // 2 + 1}
    response = send_json(
        client, "post", "/api/v1/marketplace/invoices/", {"transaction_id": tx.pk, "line_items": [half, half]}
    )
    assert response.status_code == 400 and "line_items" in body(response)["errors"]


#: Each line's total fits BIGINT (4.7 * 10**18), their sum does not (9.4 * 10**18 > 2**63 - 1).
_NEAR_BIGINT_LINE = {"description": "x", "unit_price_cents": MAX_AMOUNT_CENTS, "quantity": 470_000}


def test_two_tenant_invoice_lines_that_fit_bigint_but_whose_sum_does_not_are_a_400_naming_the_field(world):
    client, contact = world["client"], world["contact"]
    with tenant_context(world["tenant"].pk):
        before = Invoice.objects.count()
    response = send_json(
        client, "post", "/api/v1/invoices/", {"contact_id": contact.pk, "lines": [_NEAR_BIGINT_LINE, _NEAR_BIGINT_LINE]}
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert set(body(response)["errors"]) & {"lines", "lines[0].quantity", "lines[1].quantity"}
    with tenant_context(world["tenant"].pk):
        assert Invoice.objects.count() == before


def test_two_marketplace_invoice_lines_that_fit_bigint_but_whose_sum_does_not_are_a_400_naming_the_field():
    from marketplace_app.models import MarketplaceInvoice
    from tests.api.test_marketplace_endpoints import provider_with_login

    login, provider = provider_with_login()
    tx = make_transaction(provider)
    response = send_json(
        bearer(login),
        "post",
        "/api/v1/marketplace/invoices/",
        {"transaction_id": tx.pk, "line_items": [_NEAR_BIGINT_LINE, _NEAR_BIGINT_LINE]},
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert set(body(response)["errors"]) & {"line_items", "line_items[0].quantity", "line_items[1].quantity"}
    assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(transaction_id=tx.pk).exists()


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


def test_the_database_refuses_an_amount_past_the_bound_too(world):
    """The CHECK constraints (added NOT VALID: new writes checked, old rows not scanned)."""
    from django.db import IntegrityError, transaction

    from marketplace_app.models import ServiceListing

    with tenant_context(world["tenant"].pk), pytest.raises(IntegrityError, match="invoices_total_within_bound"):
        with transaction.atomic(using=TENANT_DB):
            Invoice.objects.filter(pk=world["ids"]["invoice_id"]).update(
                subtotal_cents=MAX_AMOUNT_CENTS + 1, total_cents=MAX_AMOUNT_CENTS + 1
            )
    with pytest.raises(IntegrityError, match="service_listings_price_within_bound"):
        with transaction.atomic(using=MARKETPLACE_DB):
            ServiceListing.objects.using(MARKETPLACE_DB).update(price_cents=MAX_AMOUNT_CENTS + 1)


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
