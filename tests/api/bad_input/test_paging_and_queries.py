"""Paging parameters on every list (found from the served schema, so a new list is covered by itself),
cursors, query strings with NUL or absurd lengths, and filters PostgreSQL would refuse: a 400, not a 500."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.api.bad_input.conftest import PROBLEM
from tests.api.conftest import body

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


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


def _url(path: str, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        if name == "invoice_id" and path.startswith("/api/v1/marketplace/"):
            name = "marketplace_invoice_id"
        assert name in ids, (
            f"world (tests/api/bad_input/conftest.py) needs an id for {{{name}}} (a new list endpoint: add one)"
        )
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
