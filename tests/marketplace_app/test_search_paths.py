"""A search of several terms reads its matches by a bounded walk of the stored order, then, when the
walk stops before cap + 1 matches, through the GIN index (marketplace_app/listing_search.py,
`ListingSearch._matches`); or, when the statistics of its terms say (as if they were independent)
that the walk would stop short, through the GIN index at once (marketplace_app/search_statistics.py). Whichever path answers, the page and the capped count are
those of the planner's own path (the statement a one-word search sends): checked here with a walk
bounded to a few listings, so that each path is taken at small scale."""

import dataclasses

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import search_statistics
from marketplace_app.listing_search import listing_search
from tests.factories.marketplace import ProviderFactory, make_listing

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)


@pytest.fixture
def catalogue(settings):
    settings.LISTING_SEARCH_COUNT_CAP = 6
    settings.LISTING_SEARCH_RERANK_CANDIDATES = 4
    provider = ProviderFactory(state="TX")
    for i in range(30):
        # "puppy bath" in most, "kennel" only among the oldest (past a short walk), in two states.
        title = "Puppy bath" if i % 4 else "Puppy nails"
        if i >= 24:
            title += " kennel"
        make_listing(provider, title=f"{title} {i}", state="TX" if i % 3 else "CO")


def sent(search, **page):
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        answer = search.page(**page)
    return answer, [query["sql"] for query in captured]


def walking(search):
    """The search as it reads when its statistics do not skip the walk: the walk's own behaviour is
    tested here, whatever statistics autovacuum or earlier tests left (they survive a TRUNCATE)."""
    return dataclasses.replace(search, gin_first=False)


def planner_answer(search, *, offset, limit):
    return dataclasses.replace(search, walk_where=None).page(offset=offset, limit=limit)


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": "puppy bath"},
        {"query": "puppy kennel"},
        {"query": "puppy", "state": "CO"},
        {"query": "kennel bath", "state": "TX"},
        {"query": "kennel bath", "state": "TX", "order": "newest"},
        {"query": "bath nails"},
        {"query": "the a", "state": "TX"},
    ],
)
def test_every_path_gives_the_planners_page_and_count(catalogue, settings, arguments):
    # A walk stopped early (the GIN index answers), one that finds the cap + 1, one through everything.
    for walk_rows in (3, 12, 1000):
        settings.LISTING_SEARCH_WALK_ROWS = walk_rows
        built = listing_search(**arguments)
        assert built.walk_where is not None
        for search in (walking(built), dataclasses.replace(built, gin_first=True)):
            for offset, limit in ((0, 4), (4, 4), (0, 25), (20, 4)):
                assert search.page(offset=offset, limit=limit) == planner_answer(search, offset=offset, limit=limit)
            assert search.count() == dataclasses.replace(search, walk_where=None).count()


@pytest.mark.parametrize(
    "walk_rows,statements",
    [(1000, 1), (3, 2)],
    ids=["a walk through the whole catalogue: one statement", "stopped before the cap: read again"],
)
def test_a_walk_answers_alone_or_is_read_again_through_the_text_index(catalogue, settings, walk_rows, statements):
    settings.LISTING_SEARCH_WALK_ROWS = walk_rows
    (rows, count), sent_sql = sent(walking(listing_search(query="puppy kennel")), offset=0, limit=4)
    assert (len(rows), count, len(sent_sql)) == (4, 6, statements)
    assert f"LIMIT {walk_rows})" in sent_sql[0]
    if statements == 2:
        assert "search_score + 0" in sent_sql[1]


def test_one_word_alone_is_left_to_the_planner(catalogue):
    assert listing_search(query="puppy").walk_where is None
    assert listing_search(query="puppy", state="TX").walk_where is not None


def test_a_common_pair_is_counted_by_its_walk_alone(catalogue, settings):
    # `page=last` counts first: a pair whose walk finds more than the cap stops there, instead of
    # reading and sorting every one of its matches through the text index.
    settings.LISTING_SEARCH_WALK_ROWS = 12
    search = walking(listing_search(query="puppy bath"))
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        count = search.count()
    assert (count, len(captured)) == (7, 1)
    assert "LIMIT 12)" in captured[0]["sql"] and "search_score + 0" not in captured[0]["sql"]


def analyze_listings() -> None:
    params = connections[MARKETPLACE_DB].get_connection_params()
    owner = {"user": django_settings.DATABASE_OWNER_USER, "password": django_settings.DATABASE_OWNER_PASSWORD}
    with psycopg.connect(**{**params, **owner}, autocommit=True) as connection:
        connection.execute("ANALYZE service_listings")
    search_statistics.forget()


@pytest.fixture
def analyzed(settings):
    """200 listings with statistics: "puppy" in all, "bath" in three of four, "kennel" in four,
    "grooming" and "nails" always together in two of five; most in TX, four in CO."""
    settings.LISTING_SEARCH_COUNT_CAP = 6
    settings.LISTING_SEARCH_RERANK_CANDIDATES = 4
    settings.LISTING_SEARCH_WALK_ROWS = 60
    provider = ProviderFactory(state="TX")
    # One statement: 200 listings through the services would take seconds.
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO service_listings (provider_id, slug, title, description, status, category, state, city,"
            " price_cents, currency, category_metadata, published_at, search_score, version, created_at, updated_at)"
            " SELECT %s, 'paths-' || n, concat_ws(' ', 'Puppy', CASE WHEN n %% 4 = 0 THEN 'spa' ELSE 'bath' END,"
            "  CASE WHEN n %% 5 < 2 THEN 'grooming nails' END, CASE WHEN n %% 50 = 0 THEN 'kennel' END),"
            " '', 'active', 'grooming', CASE WHEN n %% 50 = 1 THEN 'CO' ELSE 'TX' END, %s, 5000, 'USD', '{}'::jsonb,"
            " now() - n * interval '1 minute', 1000 - n, 1, now(), now() FROM generate_series(0, 199) n",
            [provider.pk, provider.city],
        )
    analyze_listings()


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": "puppy kennel"},
        {"query": "bath kennel", "state": "TX"},
        {"query": "puppy", "state": "CO"},
        {"query": "puppy bath", "state": "NY"},  # a state no listing has: its share is what the others leave
        {"query": "puppy zebra"},  # a word missing from the statistics: half the least listed share
    ],
)
def test_a_search_whose_walk_would_stop_short_skips_it(analyzed, arguments):
    search = listing_search(**arguments)
    assert search.paths == ("gin",)
    answer, statements = sent(search, offset=0, limit=4)
    assert answer == planner_answer(search, offset=0, limit=4)
    # One statement; two when the page is empty (its count is read on its own, as on every path).
    assert len(statements) == (1 if answer[0] else 2)
    assert all("search_score + 0" in sql and "LIMIT 60)" not in sql for sql in statements)
    assert search.count() == dataclasses.replace(search, walk_where=None).count()


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": "puppy bath"},  # common together: the walk finds the cap + 1 at once
        {"query": "grooming nails"},  # each in 2 of 5: expected 60 x 0.4 x 0.4 = 9.6 in the walk
        {"query": "puppy -kennel"},  # not plain words: operators, or punctuation read as one
        {"query": 'puppy "kennel"'},
        {"query": "kennel or spa"},
        {"query": "kennel OR spa"},
        {"query": "kennel or, spa"},
        {"query": "kennel (-puppy"},
        {"query": "kennel &-puppy"},
    ],
)
def test_other_searches_of_several_terms_walk_first(analyzed, arguments):
    search = listing_search(**arguments)
    assert search.paths == ("walk", "gin")
    assert search.page(offset=0, limit=4) == planner_answer(search, offset=0, limit=4)


def test_a_pair_that_may_be_common_together_walks_first_however_rare_it_looks(analyzed, settings):
    # "grooming" and "nails", each in 2 of 5: as if independent, 1.6 matches in a walk of 10 (fewer
    # than the cap + 1), but together they may be in 80 listings, past twice the walk's length.
    settings.LISTING_SEARCH_WALK_ROWS = 10
    search = listing_search(query="grooming nails")
    assert search.paths == ("walk", "gin")
    assert search.page(offset=0, limit=4) == planner_answer(search, offset=0, limit=4)


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])  # inside a transaction, as a caller may be
def test_statistics_the_database_refuses_to_read_leave_the_search_walking(analyzed, monkeypatch, caplog):
    # A real error from PostgreSQL (not a stand-in): the statistics' statement divides by zero.
    monkeypatch.setattr(search_statistics, "_STATISTICS_SQL", "SELECT 1 / 0 WHERE %s IS NOT NULL")
    search = listing_search(query="puppy kennel")
    assert search.paths == ("walk", "gin")
    assert "statistics not read" in caplog.text
    # The transaction it ran in is not aborted: the search's own statements still answer.
    assert search.page(offset=0, limit=4) == planner_answer(search, offset=0, limit=4)
    # Nor is the failing statement sent again by every search: not until the statistics are due.
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        assert listing_search(query="kennel bath").paths == ("walk", "gin")
    sent_sql = [query["sql"] for query in captured]
    assert [sql for sql in sent_sql if "SAVEPOINT" not in sql] == [], sent_sql  # the guard's own, in this transaction


def test_the_statistics_are_read_once_per_process_and_words_once_each(analyzed):
    listing_search(query="puppy kennel")
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        listing_search(query="kennel puppy")
        listing_search(query="kennel bath", state="TX")
    assert [query["sql"] for query in captured] == [captured[0]["sql"]] and "to_tsvector" in captured[0]["sql"]
