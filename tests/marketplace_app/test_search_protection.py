"""The listing search cannot be used against the site, through HTTP on the real databases and Redis:
a refused search is answered from the refusal cache, a client's uncached searches run a few at a
time (429 beyond, the rest of the site unaffected), the cache key is the normalised parameters
(unknown ones refused), a write makes stale only the answers that could show it, the count is capped,
and the score gives the stored order."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq import request_redis
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import search_guard, services
from marketplace_app.listing_score import DESCRIBED_BONUS_SECONDS, IMAGE_BONUS_SECONDS
from marketplace_app.models import ServiceListing
from tests.api.conftest import bearer
from tests.factories.marketplace import ProviderFactory, make_listing
from tests.factories.tenant import UserFactory
from tests.locks import table_locked
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

SEARCH = "/api/v1/marketplace/listings/"


@pytest.fixture(autouse=True)
def search_cache_on(settings):
    settings.LISTING_SEARCH_CACHE_SECONDS = 60
    client = request_redis.client()
    for pattern in ("listing-search:*", "listing-search-slots:*"):
        for key in client.scan_iter(match=f"{request_redis.key_prefix()}:{pattern}"):
            client.delete(key)


@pytest.fixture
def catalogue():
    austin = ProviderFactory(business_name="Austin Groomers", city="Austin", state="TX")
    denver = ProviderFactory(business_name="Denver Groomers", city="Denver", state="CO")
    return {
        "austin": austin,
        "denver": denver,
        "tx": [make_listing(austin, title=f"Dog grooming {n}") for n in range(3)],
        "co": [make_listing(denver, title=f"Dog grooming {n}") for n in range(2)],
    }


def get(params, client=None):
    """(response, statements it ran on the listings). Not counted: the statistics of search terms,
    read from pg_stats once per process (marketplace_app/search_statistics.py)."""
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as queries:
        response = (client or Client()).get(SEARCH, params)
    return response, sum("FROM service_listings " in query["sql"] for query in queries)


# --- Refused searches -------------------------------------------------------------------------------


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_refused_search_is_answered_again_from_the_refusal_cache(catalogue, settings):
    settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS = 200
    with table_locked(MARKETPLACE_DB, "service_listings"):
        first, queries = get({"q": "dog"})
    assert (first.status_code, first.json()["code"], queries) == (503, "search_timeout", 1)
    for _ in range(3):  # the database could answer now: the refusal stands, and costs nothing
        again, queries = get({"q": "dog"})
        assert (again.status_code, again.json()["code"], again.json()["timeout_ms"], queries) == (
            503,
            "search_timeout",
            200,
            0,
        )
        assert again["Content-Type"] == "application/problem+json"
    [key] = request_redis.client().keys(f"{request_redis.key_prefix()}:listing-search:*:refused:*")
    assert 0 < request_redis.client().ttl(key) <= settings.LISTING_SEARCH_REFUSAL_CACHE_SECONDS
    # A signed-in caller runs under the longer limit: another one's refusal is not theirs.
    signed_in, queries = get({"q": "dog"}, bearer(UserFactory()))
    assert (signed_in.status_code, signed_in.json()["count"], queries) == (200, 5, 1)
    request_redis.client().delete(key)  # once it expires, the search runs again
    assert get({"q": "dog"})[0].status_code == 200


def test_anonymous_callers_run_under_the_shorter_time_limit(catalogue, settings):
    settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS = 321
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 1234
    for client, limit in ((Client(), 321), (bearer(UserFactory()), 1234)):
        with CaptureQueriesContext(connections[MARKETPLACE_DB]) as queries:
            assert client.get(SEARCH, {"q": "grooming", "page_size": limit % 100}).status_code == 200
        [statement] = [q["sql"] for q in queries if "FROM service_listings " in q["sql"]]
        assert statement.startswith(f"SET LOCAL statement_timeout = {limit}; ")


# --- Concurrency per client -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_client_past_its_concurrent_searches_gets_429_and_the_site_keeps_answering(catalogue, settings):
    settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT = 1
    settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS = 5000
    slots = f"{request_redis.key_prefix()}:listing-search-slots:127.0.0.1"
    answers = {}

    def slow_search():  # holds the client's one slot while the table is locked
        answers["slow"] = Client().get(SEARCH, {"q": "dog", "state": "TX"})
        connections.close_all()

    with table_locked(MARKETPLACE_DB, "service_listings"):
        thread = threading.Thread(target=slow_search)
        thread.start()
        assert wait_until(lambda: request_redis.client().zcard(slots) > 0, timeout=10, interval=0.02)
        refused = Client().get(SEARCH, {"q": "cat"})
        assert refused.status_code == 429 and refused["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) == 5
        assert "searches running" in refused.json()["detail"]
        # The same client's other requests, and everyone else's, are not held up (anything but the
        # listings table, which this test holds locked to keep the search running).
        assert bearer(UserFactory()).get("/api/v1/auth/me/").status_code == 200
        assert Client(REMOTE_ADDR="10.1.2.3").get("/api/v1/schema/").status_code == 200
    thread.join(10)
    assert answers["slow"].status_code == 200 and answers["slow"].json()["count"] == 3
    assert request_redis.client().zcard(slots) == 0  # given back
    assert Client().get(SEARCH, {"q": "cat"}).status_code == 200


def test_a_cached_answer_needs_no_slot(catalogue, settings):
    settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT = 1
    assert get({"q": "dog"})[0].status_code == 200
    slots = f"{request_redis.key_prefix()}:listing-search-slots:127.0.0.1"
    request_redis.client().zadd(slots, {"another search": time.time() * 1000})
    try:
        response, queries = get({"q": "dog"})
        assert (response.status_code, queries) == (200, 0)
        assert get({"q": "cat"})[0].status_code == 429
    finally:  # the made-up search is not left to hold a slot in the tests that follow
        request_redis.client().zrem(slots, "another search")


def test_a_slot_lost_by_a_dead_process_expires_with_its_lease(catalogue, settings):
    settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT = 1
    lease = settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS + search_guard.LEASE_MARGIN_MS
    request_redis.client().zadd(
        f"{request_redis.key_prefix()}:listing-search-slots:127.0.0.1",
        {"died mid-search": time.time() * 1000 - lease - 1},
    )
    assert get({"q": "dog"})[0].status_code == 200


def test_without_redis_searches_are_not_limited_and_the_site_answers(
    catalogue, settings, request_redis_unreachable, caplog
):
    settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT = 1
    for _ in range(2):
        response, queries = get({"q": "dog"})
        assert (response.status_code, response.json()["count"], queries) == (200, 5, 1)


# --- The cache key ----------------------------------------------------------------------------------


def test_the_same_search_written_differently_is_one_cache_entry(catalogue):
    first, queries = get({"q": "Dog  Grooming", "state": "tx", "city": " Austin "})
    assert (first.status_code, first.json()["count"], queries) == (200, 3, 1)
    for params in (
        {"city": "Austin", "state": " TX", "q": "dog grooming"},
        {"q": " DOG grooming ", "state": "TX", "city": "Austin", "page": "1", "page_size": "25", "order": "relevance"},
    ):
        response, queries = get(params)
        assert (response.status_code, response.json()["count"], queries) == (200, 3, 0), params
    other, queries = get({"q": "dog grooming", "state": "TX", "city": "austin"})
    assert other.json()["count"] == 0 and queries > 0  # the city matches exactly: another search


@pytest.mark.parametrize("params", [{"q": "dog", "utm_source": "newsletter"}, {"Q": "dog"}, {"page_number": "2"}])
def test_an_unknown_parameter_is_refused_before_anything_is_read(catalogue, params):
    response, queries = get(params)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    problem = response.json()
    unknown = next(name for name in params if name not in ("q",))
    assert problem["code"] == "unknown_parameter" and problem["errors"] == {unknown: ["Unknown parameter."]}
    assert queries == 0
    assert not request_redis.client().keys(f"{request_redis.key_prefix()}:listing-search:v3:[0-9a-f]*")


# --- Targeted invalidation --------------------------------------------------------------------------


def test_an_edit_makes_stale_only_the_answers_that_could_show_it(catalogue, django_capture_on_commit_callbacks):
    searches = {
        "tx": {"q": "dog", "state": "TX"},
        "austin": {"q": "dog", "city": "Austin"},
        "co": {"q": "dog", "state": "CO"},
        "everywhere": {"q": "dog"},
    }
    for params in searches.values():
        assert get(params)[1] == 1
    listing = catalogue["co"][0]
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        services.listing_update(
            listing_id=listing.pk,
            provider_id=catalogue["denver"].pk,
            expected_version=listing.version,
            title="Cat grooming",
        )
    assert {name: get(params)[1] for name, params in searches.items()} == {
        "tx": 0,
        "austin": 0,
        "co": 1,
        "everywhere": 1,
    }
    assert get(searches["co"])[0].json()["count"] == 1


def test_a_listing_moved_between_states_makes_both_stale(catalogue, django_capture_on_commit_callbacks):
    tx, co = {"q": "dog", "state": "TX"}, {"q": "dog", "state": "CO"}
    get(tx), get(co)
    listing = catalogue["tx"][0]
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        services.listing_update(
            listing_id=listing.pk,
            provider_id=catalogue["austin"].pk,
            expected_version=listing.version,
            state="CO",
            city="Denver",
        )
    (tx_answer, tx_queries), (co_answer, co_queries) = get(tx), get(co)
    assert (tx_answer.json()["count"], tx_queries, co_answer.json()["count"], co_queries) == (2, 1, 3, 1)


def test_a_provider_edit_makes_stale_the_answers_that_could_show_its_listings(
    catalogue, django_capture_on_commit_callbacks
):
    tx, co = {"q": "dog", "state": "TX"}, {"q": "dog", "state": "CO"}
    get(tx), get(co)
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        catalogue["denver"].business_name = "Mile High Groomers"
        catalogue["denver"].save()  # as the admin does
    co_answer, co_queries = get(co)
    assert co_queries == 1 and {row["provider"]["business_name"] for row in co_answer.json()["results"]} == {
        "Mile High Groomers"
    }
    assert get(tx)[1] == 0


# --- Capped count and order -------------------------------------------------------------------------


def test_the_count_is_exact_up_to_the_cap_then_capped_and_pages_end_there(catalogue, settings):
    settings.LISTING_SEARCH_COUNT_CAP = 5
    exact = get({"q": "dog", "page_size": 2})[0].json()
    assert (exact["count"], exact["count_capped"]) == (5, False)
    settings.LISTING_SEARCH_COUNT_CAP = 3
    capped = get({"q": "dog", "page_size": 2, "order": "newest"})[0].json()
    assert (capped["count"], capped["count_capped"], len(capped["results"])) == (3, True, 2)
    last = get({"q": "dog", "page_size": 2, "order": "newest", "page": 2})[0].json()
    # The last page ends at the cap: the fourth match only proved "3+".
    assert (last["count"], last["count_capped"], len(last["results"]), last["next"]) == (3, True, 1, None)
    past = get({"q": "dog", "page_size": 2, "order": "newest", "page": 3})[0]
    assert past.status_code == 404 and past.json()["code"] == "not_found"


@pytest.mark.parametrize("order", ["relevance", "newest"])
def test_the_page_and_its_count_come_from_one_read_of_the_first_cap_plus_one_matches(catalogue, settings, order):
    # The catalogue's 5 "dog" listings: a cap of 5 is exact (no sixth match to read), 4 is "4+" proven
    # by the fifth; each answer is one statement, whichever page it is.
    settings.LISTING_SEARCH_COUNT_CAP = 5
    settings.LISTING_SEARCH_RERANK_CANDIDATES = 2
    for page in (1, 3):
        answer, statements = get({"q": "dog", "page_size": 2, "page": page, "order": order})
        assert (answer.json()["count"], answer.json()["count_capped"], statements) == (5, False, 1)
    settings.LISTING_SEARCH_COUNT_CAP = 4
    pages = [get({"q": "dog", "page_size": 3, "page": page, "order": order}) for page in (1, 2)]
    assert [(a.json()["count"], a.json()["count_capped"], n) for a, n in pages] == [(4, True, 1)] * 2
    # The pages end at the cap, and the listings they show are the first four, none twice.
    shown = [row["id"] for answer, _ in pages for row in answer.json()["results"]]
    assert len(shown) == len(set(shown)) == 4


def test_the_schema_states_the_count_cap(settings):
    settings.LISTING_SEARCH_COUNT_CAP = 300
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    [listing] = [path for name, path in schema["paths"].items() if name.rstrip("/").endswith("/marketplace/listings")]
    page = listing["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]] if "$ref" in page else page
    assert page["properties"]["count"]["maximum"] == 300
    assert '"300+"' in page["properties"]["count_capped"]["description"]


def test_relevance_reranks_the_first_candidates_and_the_rest_follow_the_stored_order(settings):
    settings.LISTING_SEARCH_RERANK_CANDIDATES = 2
    provider = ProviderFactory()
    # Published in this order: the newest has the highest score.
    weak_old = make_listing(provider, title="Grooming", description="dog")
    strong_old = make_listing(provider, title="Dog dog grooming")
    weak_new = make_listing(provider, title="Grooming salon", description="a dog")
    strong_new = make_listing(provider, title="Dog grooming for every dog")
    rows = get({"q": "dog", "page_size": 3})[0].json()["results"]
    second = get({"q": "dog", "page_size": 3, "page": 2})[0].json()["results"]
    # The two newest, by relevance; then the others newest first (not ranked).
    assert [row["slug"] for row in rows + second] == [strong_new.slug, weak_new.slug, strong_old.slug, weak_old.slug]


def test_the_score_is_recency_plus_description_and_images_and_the_command_fills_it(catalogue):
    listing = catalogue["tx"][0]
    published = int(listing.published_at.timestamp())
    score = lambda: ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing.pk).search_score  # noqa: E731
    assert score() == published
    services.listing_update(
        listing_id=listing.pk,
        provider_id=catalogue["austin"].pk,
        expected_version=listing.version,
        description="x" * 250,
    )
    services.listing_image_add(listing_id=listing.pk, url="https://img.example/1.jpg")
    assert score() == published + DESCRIBED_BONUS_SECONDS + IMAGE_BONUS_SECONDS
    ServiceListing.objects.using(MARKETPLACE_DB).update(search_score=None)  # as before the column existed
    call_command("listing_search_scores", batch_size=2)
    assert score() == published + DESCRIBED_BONUS_SECONDS + IMAGE_BONUS_SECONDS
    assert not ServiceListing.objects.using(MARKETPLACE_DB).filter(status="active", search_score__isnull=True).exists()
