"""The transaction list's keyset pages (breederhq.api.keyset, selectors.transaction_page): next and
previous links over ties in `created_at`, bad cursors, the rows the ORM would give, and one query
per page whatever its size."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq.api.keyset import Position, decode_position, encode_position
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import ValidationFailed
from marketplace_app import selectors
from marketplace_app.api import serializers as s
from marketplace_app.models import MarketplaceTransaction
from tests.api.conftest import bearer, body
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
URL = "/api/v1/marketplace/transactions/"
TRANSACTIONS = MarketplaceTransaction.objects.using(MARKETPLACE_DB)


@pytest.fixture
def sales():
    """A provider's 8 sales, three of them at the very same instant (ties broken by id)."""
    provider_login, provider = provider_with_login()
    _, buyer = person()
    made = [make_transaction(provider, buyer, amount_cents=1000 + i) for i in range(8)]
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for i, tx in enumerate(made):
        at = start + timedelta(minutes=i if i not in (3, 4, 5) else 3)
        TRANSACTIONS.filter(pk=tx.pk).update(created_at=at)
    make_transaction(provider_with_login()[1], buyer)  # someone else's sale: never listed
    newest_first = list(
        TRANSACTIONS.filter(provider=provider).order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    return bearer(provider_login), provider, newest_first


def follow(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return body(response)


def test_next_links_walk_every_sale_once_in_order_and_previous_links_walk_back(sales):
    client, _, newest_first = sales
    pages = [follow(client, f"{URL}?as=provider&page_size=3")]
    assert pages[0]["previous"] is None
    while pages[-1]["next"]:
        pages.append(follow(client, pages[-1]["next"]))
    assert [[t["id"] for t in page["results"]] for page in pages] == [
        newest_first[0:3],
        newest_first[3:6],
        newest_first[6:8],
    ]
    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(follow(client, back[-1]["previous"]))
    assert [[t["id"] for t in page["results"]] for page in back] == [
        newest_first[6:8],
        newest_first[3:6],
        newest_first[0:3],
    ]
    # Back at the newest page by a previous link: no previous, and its next goes on as before.
    assert back[-1]["previous"] is None
    assert [t["id"] for t in follow(client, back[-1]["next"])["results"]] == newest_first[3:6]


def test_a_status_filter_holds_on_every_page(sales):
    client, provider, _ = sales
    TRANSACTIONS.filter(provider=provider, amount_cents__in=[1001, 1004, 1006]).update(status="cancelled")
    cancelled = list(
        TRANSACTIONS.filter(provider=provider, status="cancelled")
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    first = follow(client, f"{URL}?as=provider&status=cancelled&page_size=2")
    second = follow(client, first["next"])
    assert [t["id"] for t in first["results"] + second["results"]] == cancelled
    assert second["next"] is None and {t["status"] for t in second["results"]} == {"cancelled"}


def test_a_page_of_rows_is_what_the_orm_reads(sales):
    _, provider, newest_first = sales
    tx = TRANSACTIONS.get(pk=newest_first[4])
    position = Position(tx.created_at, tx.pk)
    orm = list(TRANSACTIONS.filter(provider=provider).order_by("-created_at", "-id").values(*s.TRANSACTION_VALUES))
    assert selectors.transaction_page(provider_id=provider.pk, limit=100) == orm
    assert selectors.transaction_page(provider_id=provider.pk, position=position, limit=100) == orm[5:]
    newer = selectors.transaction_page(
        provider_id=provider.pk, position=Position(tx.created_at, tx.pk, newer=True), limit=2
    )
    assert newer == list(reversed(orm[2:4]))  # oldest first, the two just before the position
    buyer_id = orm[0]["client_id"]
    assert [r["id"] for r in selectors.transaction_page(client_id=buyer_id, limit=100)] == [
        pk for pk in TRANSACTIONS.filter(client_id=buyer_id).order_by("-created_at", "-id").values_list("pk", flat=True)
    ]
    with pytest.raises(ValueError):
        selectors.transaction_page(provider_id=provider.pk, client_id=buyer_id)


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"2026-03-01T12:00:00|5").decode(),  # no time zone
        base64.urlsafe_b64encode(b"2026-03-01T12:00:00+00:00|five").decode(),
        base64.urlsafe_b64encode(b"2026-03-01T12:00:00+00:00|5|sideways").decode(),
        base64.b64encode(b"p=2026-03-01+12%3A00%3A00%2B00%3A00").decode(),  # DRF's own cursor format
    ],
)
def test_a_cursor_this_api_did_not_write_is_a_400_naming_it(sales, cursor):
    client, _, _ = sales
    response = client.get(URL, {"as": "provider", "cursor": cursor})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = body(response)
    assert problem["code"] == "validation_failed" and "cursor" in problem["errors"]


def test_positions_round_trip_and_message_cursors_refuse_the_backwards_form():
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    for position in (Position(at, 7), Position(at, 7, newer=True)):
        assert decode_position(encode_position(position)) == position
    with pytest.raises(ValidationFailed):
        decode_position(encode_position(Position(at, 7, newer=True)), allow_newer=False)


def test_one_query_per_page_whatever_its_size(sales):
    client, _, _ = sales
    follow(client, f"{URL}?as=provider")  # warms the per-process identity cache
    seen = set()
    for size in (1, 4, 100):
        with (
            CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
            CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
        ):
            follow(client, f"{URL}?as=provider&page_size={size}")
        seen.add((len(tenant_db), len(marketplace_db)))
    assert seen == {(0, 1)}


def test_anonymous_callers_get_401_not_a_page():
    response = Client().get(URL)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
