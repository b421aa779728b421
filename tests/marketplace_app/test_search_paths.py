"""A search of several terms reads its matches by a bounded walk of the stored order, then, when the
walk stops before cap + 1 matches, through the GIN index (marketplace_app/listing_search.py,
`ListingSearch._matches`). Whichever path answers, the page and the capped count are those of the
planner's own path (the statement a one-word search sends): checked here with a walk bounded to a few
listings, so that each path is taken at small scale."""

import dataclasses

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
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
        search = listing_search(**arguments)
        assert search.walk_where is not None
        for offset, limit in ((0, 4), (4, 4), (0, 25), (20, 4)):
            assert search.page(offset=offset, limit=limit) == planner_answer(search, offset=offset, limit=limit)
        assert search.count() == dataclasses.replace(search, walk_where=None).count()


def test_a_walk_through_the_whole_catalogue_answers_in_one_statement(catalogue, settings):
    settings.LISTING_SEARCH_WALK_ROWS = 1000
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        rows, count = listing_search(query="puppy kennel").page(offset=0, limit=4)
    assert (len(rows), count, len(captured)) == (4, 6, 1)


def test_a_walk_stopped_before_the_cap_is_read_again_through_the_text_index(catalogue, settings):
    settings.LISTING_SEARCH_WALK_ROWS = 3
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        rows, count = listing_search(query="puppy kennel").page(offset=0, limit=4)
    assert (len(rows), count, len(captured)) == (4, 6, 2)
    assert "LIMIT 3)" in captured[0]["sql"] and "search_score + 0" in captured[1]["sql"]


def test_one_word_alone_is_left_to_the_planner(catalogue):
    assert listing_search(query="puppy").walk_where is None
    assert listing_search(query="puppy", state="TX").walk_where is not None


def test_a_common_pair_is_counted_by_its_walk_alone(catalogue, settings):
    # `page=last` counts first: a pair whose walk finds more than the cap stops there, instead of
    # reading and sorting every one of its matches through the text index.
    settings.LISTING_SEARCH_WALK_ROWS = 12
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        count = listing_search(query="puppy bath").count()
    assert (count, len(captured)) == (7, 1)
    assert "LIMIT 12)" in captured[0]["sql"] and "search_score + 0" not in captured[0]["sql"]
