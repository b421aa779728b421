"""The listing search cache, against the real Redis: a fresh page answers without a query, a
committed listing or provider write makes every page stale at once, one request recomputes a stale
page while the others answer from it, and without Redis the search runs uncached."""

import logging
from datetime import datetime

import pytest
import redis
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq import request_redis
from marketplace_app import search_cache, services
from marketplace_app.selectors import listing_search
from tests.factories.marketplace import ProviderFactory, make_listing

pytestmark = pytest.mark.django_db(databases=["default", "marketplace"])


@pytest.fixture(autouse=True)
def search_cache_on(settings):
    settings.LISTING_SEARCH_CACHE_SECONDS = 60
    client = request_redis.client()
    for key in client.scan_iter(match=f"{request_redis.key_prefix()}:listing-search:*"):
        client.delete(key)


@pytest.fixture
def austin():
    provider = ProviderFactory(business_name="Austin Groomers", city="Austin", state="TX")
    return provider, [make_listing(provider, title=f"Dog grooming {n}") for n in range(3)]


def entry_keys() -> list[str]:
    return sorted(key.decode() for key in request_redis.client().scan_iter(
        match=f"{request_redis.key_prefix()}:listing-search:v1:*") if not key.endswith(b":lock"))


def marketplace_queries(search, **page):
    with CaptureQueriesContext(connections["marketplace"]) as queries:
        rows, count = search.page(offset=page.get("offset", 0), limit=page.get("limit", 10))
    return [row["id"] for row in rows], count, len(queries)


def test_the_same_page_again_answers_from_the_cache_without_a_query(austin):
    _, listings = austin
    first = marketplace_queries(listing_search(query="grooming", state="TX"))
    again = marketplace_queries(listing_search(query="grooming", state="TX"))
    assert first[:2] == again[:2] and sorted(first[0]) == sorted(listing.pk for listing in listings)
    assert (first[2], again[2]) == (1, 0)


def test_each_page_filter_and_order_is_its_own_entry(austin):
    search = listing_search(query="grooming", state="TX")
    assert marketplace_queries(search, limit=2)[2] == 1
    assert marketplace_queries(search, offset=2, limit=2)[2] == 1
    assert marketplace_queries(listing_search(query="grooming", state="CO"))[:2] == ([], 0)
    assert marketplace_queries(listing_search(query="grooming", state="TX", order="newest"))[2] == 1
    assert marketplace_queries(search, limit=2)[2] == 0
    assert search.count() == 3
    assert search.count() == 3  # counted once, then cached


def test_a_committed_listing_change_makes_every_cached_page_stale(austin, django_capture_on_commit_callbacks):
    _, listings = austin
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    with django_capture_on_commit_callbacks(using="marketplace", execute=True):
        services.listing_transition(listing_id=listings[0].pk, target="paused")
    ids, count, queries = marketplace_queries(search)
    assert listings[0].pk not in ids and count == 2 and queries == 1


def test_an_uncommitted_change_leaves_the_cache_alone(austin, django_capture_on_commit_callbacks):
    _, listings = austin
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    with django_capture_on_commit_callbacks(using="marketplace", execute=False) as callbacks:
        services.listing_transition(listing_id=listings[0].pk, target="paused")
    assert callbacks  # the invalidation waits for the commit (which this test never makes)
    assert marketplace_queries(search)[2] == 0


def test_a_provider_edit_in_the_back_office_makes_pages_naming_it_stale(austin, django_capture_on_commit_callbacks):
    provider, _ = austin
    search = listing_search(query="grooming")
    marketplace_queries(search)
    with django_capture_on_commit_callbacks(using="marketplace", execute=True):
        provider.business_name = "Renamed Groomers"
        provider.save()  # as the admin's change form does: no service involved
    rows, _ = search.page(offset=0, limit=10)
    assert {row["provider__business_name"] for row in rows} == {"Renamed Groomers"}


def test_a_stale_page_is_recomputed_by_one_request_while_the_others_answer_from_it(austin):
    _, listings = austin
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    services.listing_transition(listing_id=listings[0].pk, target="paused")
    search_cache.listings_changed()  # as the commit would
    [key] = entry_keys()
    request_redis.client().set(f"{key}:lock", "another", ex=30)  # another request is recomputing it
    ids, count, queries = marketplace_queries(search)
    assert listings[0].pk in ids and count == 3 and queries == 0  # the stale answer, no query
    request_redis.client().delete(f"{key}:lock")
    ids, count, queries = marketplace_queries(search)
    assert listings[0].pk not in ids and count == 2 and queries == 1
    assert not request_redis.client().exists(f"{key}:lock")  # released once stored


def test_a_page_older_than_the_ttl_is_read_again(austin, monkeypatch):
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    now = search_cache.time.time()
    monkeypatch.setattr(search_cache.time, "time", lambda: now + 61)
    assert marketplace_queries(search)[2] == 1
    assert marketplace_queries(search)[2] == 0
    [key] = entry_keys()
    assert 60 < request_redis.client().ttl(key) <= 60 + search_cache.STALE_GRACE_SECONDS


def test_turned_off_every_search_reads_the_database(austin, settings):
    settings.LISTING_SEARCH_CACHE_SECONDS = 0
    search = listing_search(query="grooming", state="TX")
    assert [marketplace_queries(search)[2] for _ in range(2)] == [1, 1]
    assert not list(request_redis.client().scan_iter(match=f"{request_redis.key_prefix()}:listing-search:*"))


def test_without_redis_the_search_runs_uncached_and_says_so(austin, monkeypatch, caplog):
    _, listings = austin
    monkeypatch.setattr(request_redis, "_redis", redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    search = listing_search(query="grooming", state="TX")
    with caplog.at_level(logging.WARNING, logger="marketplace_app.search_cache"):
        ids, count, queries = marketplace_queries(search)
        search_cache.listings_changed()
    assert sorted(ids) == sorted(listing.pk for listing in listings) and count == 3 and queries == 1
    assert "not cached, Redis unreachable" in caplog.text and "not invalidated" in caplog.text


def test_the_api_answers_a_repeated_search_from_the_cache(austin):
    client = Client()
    url = "/api/v1/marketplace/listings/?q=grooming&state=TX"
    first = client.get(url)
    with CaptureQueriesContext(connections["marketplace"]) as queries:
        again = client.get(url)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["count"] == 3
    assert len(queries) == 0


def test_a_recomputation_releases_only_its_own_lock(austin, monkeypatch):
    """A recomputation that outlived its lock leaves the next holder's lock alone."""
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    search_cache.listings_changed()
    [key] = entry_keys()

    def taken_over_meanwhile():  # this recomputation's lock expired and another request took it
        request_redis.client().set(f"{key}:lock", "the next holder", ex=30)
        return [[], 0]

    monkeypatch.setattr(search_cache, "_entry_key", lambda parts: key)
    search_cache.cached(("the stale entry",), taken_over_meanwhile)
    assert request_redis.client().get(f"{key}:lock") == b"the next holder"


def test_an_unreadable_entry_is_read_again_from_the_database(austin, caplog):
    search = listing_search(query="grooming", state="TX")
    marketplace_queries(search)
    [key] = entry_keys()
    request_redis.client().set(key, b"\x80\x04not json")
    with caplog.at_level(logging.WARNING, logger="marketplace_app.search_cache"):
        ids, count, queries = marketplace_queries(search)
    assert count == 3 and len(ids) == 3 and queries == 1 and "unreadable" in caplog.text
    assert marketplace_queries(search)[2] == 0  # stored again, readable


def test_cached_rows_come_back_as_they_were_read(austin):
    search = listing_search(query="grooming", state="TX")
    read = search.page(offset=0, limit=10)
    again = search.page(offset=0, limit=10)
    assert again == read and isinstance(again[0][0]["published_at"], datetime)
