"""The listing search cache, through the API against the real Redis: a fresh answer comes back
without a query, a committed listing or provider write makes every answer stale at once, one request
recomputes a stale answer while the others answer from it, a refused search is never cached, and
without Redis the search runs uncached."""

import logging

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq import request_redis
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import search_cache, services
from tests.factories.marketplace import ProviderFactory, make_listing
from tests.locks import table_locked

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

SEARCH = "/api/v1/marketplace/listings/"


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
    return sorted(
        key
        for key in (
            key.decode()
            for key in request_redis.client().scan_iter(
                match=f"{request_redis.key_prefix()}:listing-search:{search_cache._FORMAT}:*"
            )
        )
        if not key.endswith(":lock") and ":generation:" not in key and ":refused:" not in key
    )


def search(**params) -> tuple[dict, int]:
    """(the answer, the statements it ran on the listings). Inside the test's transaction each also
    takes a savepoint (selectors._fetch_within_timeout), which the API's reads outside one do not."""
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as queries:
        response = Client().get(SEARCH, {"q": "grooming", "state": "TX", **params})
    assert response.status_code == 200, response.content
    return response.json(), sum("FROM service_listings " in query["sql"] for query in queries)


def slugs(answer: dict) -> set[str]:
    return {row["slug"] for row in answer["results"]}


def test_the_same_search_again_answers_from_the_cache_without_a_query(austin):
    _, listings = austin
    first, first_queries = search()
    again, again_queries = search()
    assert again == first and first["count"] == 3 and slugs(first) == {listing.slug for listing in listings}
    assert (first_queries, again_queries) == (1, 0)


def test_each_page_filter_and_order_is_its_own_entry(austin):
    assert search(page_size=2)[1] == 1
    second_page, queries = search(page_size=2, page=2)
    assert queries == 1 and len(second_page["results"]) == 1 and second_page["previous"]
    assert search(state="CO")[0]["count"] == 0
    assert search(order="newest")[1] == 1
    assert search(page_size=2)[1] == 0
    assert len(entry_keys()) == 4


def test_a_refused_search_is_not_cached(austin):
    for _ in range(2):
        response = Client().get(SEARCH, {"q": "grooming", "order": "cheapest"})
        assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert entry_keys() == []


def test_a_committed_listing_change_makes_every_cached_answer_stale(austin, django_capture_on_commit_callbacks):
    _, listings = austin
    search()
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        services.listing_transition(listing_id=listings[0].pk, target="paused")
    answer, queries = search()
    assert listings[0].slug not in slugs(answer) and answer["count"] == 2 and queries == 1


def test_an_uncommitted_change_leaves_the_cache_alone(austin, django_capture_on_commit_callbacks):
    _, listings = austin
    search()
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=False) as callbacks:
        services.listing_transition(listing_id=listings[0].pk, target="paused")
    assert callbacks  # the invalidation waits for the commit (which this test never makes)
    assert search()[1] == 0


def test_a_provider_edit_in_the_back_office_makes_answers_naming_it_stale(austin, django_capture_on_commit_callbacks):
    provider, _ = austin
    search()
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        provider.business_name = "Renamed Groomers"
        provider.save()  # as the admin's change form does: no service involved
    answer, _ = search()
    assert {row["provider"]["business_name"] for row in answer["results"]} == {"Renamed Groomers"}


def test_an_evicted_generation_never_revives_an_answer_made_before_a_change(austin):
    """The generation is a random token: with a counter, losing the key (eviction) restarted it,
    and a later count could equal the one an old answer carries, reviving it."""
    _, listings = austin
    generation_key = search_cache._generation_key(("state", "TX"))  # the search's scope
    search()
    services.listing_transition(listing_id=listings[0].pk, target="paused")
    search_cache.listings_changed([{"state": "TX"}])  # as the commit would
    for _ in range(3):  # each eviction and first search after it makes a generation never seen before
        request_redis.client().delete(generation_key)
        answer, queries = search()
        assert listings[0].slug not in slugs(answer) and queries == 1
    assert search()[1] == 0


def test_a_stale_answer_is_recomputed_by_one_request_while_the_others_answer_from_it(austin):
    _, listings = austin
    search()
    services.listing_transition(listing_id=listings[0].pk, target="paused")
    search_cache.listings_changed([{"state": "TX"}])  # as the commit would
    [key] = entry_keys()
    request_redis.client().set(f"{key}:lock", "another", ex=30)  # another request is recomputing it
    answer, queries = search()
    assert listings[0].slug in slugs(answer) and answer["count"] == 3 and queries == 0  # stale, no query
    request_redis.client().delete(f"{key}:lock")
    answer, queries = search()
    assert listings[0].slug not in slugs(answer) and answer["count"] == 2 and queries == 1
    assert not request_redis.client().exists(f"{key}:lock")  # released once stored


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_stale_answer_whose_recomputation_runs_past_the_time_limit_is_answered_again(austin, settings, caplog):
    """The database cannot recompute the stale answer in time (here: a lock it waits on): the
    request answers the stale one instead of a 503, and the next one tries again."""
    _, listings = austin
    search()
    services.listing_transition(listing_id=listings[0].pk, target="paused")
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 200
    [key] = entry_keys()
    with table_locked(MARKETPLACE_DB, "service_listings"):
        answer, queries = search()
    assert listings[0].slug in slugs(answer) and answer["count"] == 3 and queries == 1  # tried, then stale
    assert "not recomputed in time" in caplog.text
    assert not request_redis.client().exists(f"{key}:lock")
    answer, queries = search()
    assert listings[0].slug not in slugs(answer) and answer["count"] == 2 and queries == 1


def test_a_search_never_answered_before_that_runs_past_the_time_limit_is_a_503(settings):
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 200
    with table_locked(MARKETPLACE_DB, "service_listings"):
        response = Client().get(SEARCH, {"q": "grooming", "state": "TX"})
    assert (response.status_code, response.json()["code"]) == (503, "search_timeout")
    assert entry_keys() == []


def test_a_recomputation_releases_only_its_own_lock(austin, monkeypatch):
    search()
    search_cache.listings_changed([{"state": "TX"}])
    [key] = entry_keys()

    def taken_over_meanwhile():  # this recomputation's lock expired and another request took it
        request_redis.client().set(f"{key}:lock", "the next holder", ex=30)
        return {"count": 0}

    monkeypatch.setattr(search_cache, "_entry_key", lambda parts: key)
    search_cache.cached(("the stale entry",), taken_over_meanwhile)
    assert request_redis.client().get(f"{key}:lock") == b"the next holder"


def test_an_answer_older_than_the_ttl_is_read_again(austin, monkeypatch):
    search()
    now = search_cache.time.time()
    monkeypatch.setattr(search_cache.time, "time", lambda: now + 61)
    assert search()[1] == 1
    assert search()[1] == 0
    [key] = entry_keys()
    assert 60 < request_redis.client().ttl(key) <= 60 + search_cache.STALE_GRACE_SECONDS


def test_an_unreadable_entry_is_read_again_from_the_database(austin, caplog):
    search()
    [key] = entry_keys()
    request_redis.client().set(key, b"\x80\x04not json")
    with caplog.at_level(logging.WARNING, logger="marketplace_app.search_cache"):
        answer, queries = search()
    assert answer["count"] == 3 and queries == 1 and "unreadable" in caplog.text
    assert search()[1] == 0  # stored again, readable


def test_turned_off_every_search_reads_the_database(austin, settings):
    settings.LISTING_SEARCH_CACHE_SECONDS = 0
    assert [search()[1] for _ in range(2)] == [1, 1]
    assert entry_keys() == []


def test_without_redis_the_search_runs_uncached_and_says_so(austin, request_redis_unreachable, caplog):
    with caplog.at_level(logging.WARNING, logger="marketplace_app.search_cache"):
        answer, queries = search()
        search_cache.listings_changed()
    assert answer["count"] == 3 and queries == 1
    assert "not cached, Redis unreachable" in caplog.text and "not invalidated" in caplog.text
