"""Listing search returns exactly the matching active listings of live providers."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import TimedOut, ValidationFailed
from marketplace_app import services
from marketplace_app.selectors import listing_get_public, listing_search
from tests.factories.marketplace import ProviderFactory, make_listing
from tests.locks import table_locked

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def catalogue():
    austin = ProviderFactory(city="Austin", state="TX")
    denver = ProviderFactory(city="Denver", state="CO")
    gone = ProviderFactory(city="Austin", state="TX")
    listings = {
        "groom": make_listing(
            austin,
            title="Full dog grooming",
            description="Bath, nails and haircut",
            category="grooming",
            price_cents=6000,
            category_metadata={"breed_sizes": ["small", "medium"], "mobile": True},
        ),
        "groom_cheap": make_listing(
            austin,
            title="Nail trim",
            description="Quick nail trimming for dogs",
            category="grooming",
            price_cents=1500,
            category_metadata={"mobile": False},
        ),
        "train": make_listing(
            austin,
            title="Puppy training class",
            description="Obedience for puppies",
            category="training",
            price_cents=12000,
            category_metadata={"group": True},
        ),
        "denver_groom": make_listing(
            denver,
            title="Cat grooming",
            description="Gentle grooming for cats",
            category="grooming",
            price_cents=7000,
            category_metadata={"mobile": True},
        ),
        "draft": make_listing(
            austin, title="Grooming deluxe", description="grooming", category="grooming", publish=False
        ),
        "paused": make_listing(austin, title="Grooming paused", description="grooming", category="grooming"),
        "archived": make_listing(austin, title="Grooming archived", description="grooming", category="grooming"),
        "deleted_provider": make_listing(gone, title="Grooming by a deleted provider", category="grooming"),
    }
    services.listing_transition(listing_id=listings["paused"].pk, target="paused")
    services.listing_transition(listing_id=listings["archived"].pk, target="archived")
    services.provider_delete(provider_id=gone.pk)
    return listings


def found(search) -> list[int]:
    rows, count = search.page(offset=0, limit=100)
    assert count == len(rows)
    return [row["id"] for row in rows]


def ids(search):
    return set(found(search))


def pks(catalogue, *names):
    return {catalogue[name].pk for name in names}


def test_without_filters_only_active_listings_of_live_providers(catalogue):
    assert ids(listing_search()) == pks(catalogue, "groom", "groom_cheap", "train", "denver_groom")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"category": "grooming"}, {"groom", "groom_cheap", "denver_groom"}),
        ({"category": "grooming", "state": "tx"}, {"groom", "groom_cheap"}),
        ({"state": "CO", "city": "Denver"}, {"denver_groom"}),
        ({"city": "Austin", "category": "training"}, {"train"}),
        ({"price_min_cents": 6000}, {"groom", "train", "denver_groom"}),
        ({"price_max_cents": 6000}, {"groom", "groom_cheap"}),
        ({"price_min_cents": 6000, "price_max_cents": 7000}, {"groom", "denver_groom"}),
        ({"metadata": {"mobile": True}}, {"groom", "denver_groom"}),
        ({"metadata": {"breed_sizes": ["small"]}}, {"groom"}),
        ({"metadata_keys": ["mobile"]}, {"groom", "groom_cheap", "denver_groom"}),
        ({"metadata_keys": ["mobile", "breed_sizes"]}, {"groom"}),
        ({"query": "grooming"}, {"groom", "denver_groom"}),
        ({"query": "nails"}, {"groom", "groom_cheap"}),
        ({"query": "puppies"}, {"train"}),
        ({"query": "grooming", "state": "TX"}, {"groom"}),
        ({"query": "grooming", "state": "tx", "category": "grooming", "city": "Austin"}, {"groom"}),
        ({"query": "nail", "city": "Austin"}, {"groom", "groom_cheap"}),
        ({"query": "nail", "city": "austin"}, set()),  # city is matched exactly, with or without a query
        ({"city": "austin"}, set()),
        ({"query": "grooming", "category": "training"}, set()),
        ({"query": "grooming", "state": "CO", "price_min_cents": 7000}, {"denver_groom"}),
        ({"query": "state=TX"}, set()),  # words, never a facet: "state" & "tx" are in no listing
        ({"query": "the and of"}, set()),  # stop words alone match nothing ...
        ({"query": "the and of", "state": "TX"}, set()),  # ... with a facet too (not every TX listing)
        ({"query": "cats -dog"}, {"denver_groom"}),
        ({"query": "hamster"}, set()),
        ({"category": "veterinary"}, set()),
    ],
)
def test_filters_and_full_text_return_exactly_the_matches(catalogue, filters, expected):
    assert ids(listing_search(**filters)) == pks(catalogue, *expected)


def test_relevance_puts_title_matches_first(catalogue):
    # "grooming" is in the title of both; "nail" is in the title of groom_cheap only (weight A)
    # and in the description of groom (weight B).
    assert found(listing_search(query="nail")) == [catalogue["groom_cheap"].pk, catalogue["groom"].pk]


def test_newest_order_is_by_publication(catalogue):
    assert found(listing_search(category="grooming", order="newest")) == [
        catalogue["denver_groom"].pk,
        catalogue["groom_cheap"].pk,
        catalogue["groom"].pk,
    ]


def test_pages_split_the_ordered_matches_and_each_carries_the_count(catalogue):
    search = listing_search(category="grooming", order="newest")
    everything = found(search)
    pages = [search.page(offset=offset, limit=2) for offset in (0, 2, 4)]
    assert [row["id"] for rows, _ in pages for row in rows] == everything
    assert [count for _, count in pages] == [3, 3, 3]  # the last, empty page counts separately
    assert search.count() == 3


def test_search_rows_name_their_columns_as_the_api_renders_them(catalogue):
    from marketplace_app.api.serializers import LISTING_VALUES

    rows, _ = listing_search(query="nail").page(offset=0, limit=1)
    assert tuple(rows[0]) == LISTING_VALUES
    assert rows[0]["provider__state"] == "TX" and rows[0]["slug"] == catalogue["groom_cheap"].slug


def test_unknown_order_is_refused(catalogue):
    with pytest.raises(ValidationFailed):
        listing_search(order="cheapest")


def test_public_listing_hides_inactive_and_deleted(catalogue):
    assert listing_get_public(slug=catalogue["groom"].slug).pk == catalogue["groom"].pk
    from breederhq.errors import NotFound

    for name in ("draft", "paused", "archived", "deleted_provider"):
        with pytest.raises(NotFound):
            listing_get_public(slug=catalogue[name].slug)


@pytest.mark.parametrize("city", ["O'Fallon", "St. Mary's \\ Bay", "A & B | !C", "Quote''d:*", "Ville  d'Avray"])
def test_facet_values_match_verbatim_whatever_their_characters(city):
    provider = ProviderFactory(city=city, state="MO")
    listing = make_listing(provider, title="Dog grooming")
    make_listing(ProviderFactory(city=city + "x", state="MO"), title="Dog grooming")
    assert ids(listing_search(query="grooming", city=city, state="MO")) == {listing.pk}
    assert ids(listing_search(city=city)) == {listing.pk}


def test_facet_tsquery_quotes_each_value_and_knows_its_facets():
    from marketplace_app.search_document import facet_tsquery

    assert facet_tsquery(state="TX", city="O'Fallon", category=None) == "'state=TX' & 'city=O''Fallon'"
    assert facet_tsquery(state="", city=None) is None
    with pytest.raises(ValueError, match="price"):
        facet_tsquery(price="1")


def test_a_search_with_text_and_facets_is_one_condition_the_document_index_answers(catalogue):
    """The query's expression must be the index's, or PostgreSQL silently reads the table instead.
    (On a handful of rows any plan is as good, so the condition is explained alone, scans off.)"""
    from marketplace_app.search_document import LISTING_SEARCH_DOCUMENT_SQL

    search = listing_search(query="grooming puppy", state="TX", city="Austin", category="grooming")
    text_and_facets = next(part for part in search.where.split(" AND ") if LISTING_SEARCH_DOCUMENT_SQL in part)
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN SELECT l.id FROM service_listings l WHERE {text_and_facets}", search.params[1:3])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on listings_search_document_gin" in plan, plan
    assert "'groom' & 'puppi' & 'category=grooming' & 'state=TX' & 'city=Austin'".replace("'", "''") in plan


def statement_timeout() -> str:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "in_transaction",
    [
        pytest.param(
            False,
            id="autocommit, as the API reads",
            marks=pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True),
        ),
        pytest.param(True, id="inside a caller's transaction"),
    ],
)
def test_a_search_past_its_time_limit_is_stopped_and_leaves_the_connection_as_it_was(in_transaction, settings):
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 300
    before = statement_timeout()
    assert before != "300ms"
    assert connections[MARKETPLACE_DB].in_atomic_block is in_transaction
    search = listing_search(query="grooming", state="TX")

    with table_locked(MARKETPLACE_DB, "service_listings"):
        for read in (lambda: search.page(offset=0, limit=25), search.count):
            with pytest.raises(TimedOut) as stopped:
                read()
            assert (stopped.value.status, stopped.value.code) == (503, "search_timeout")
            assert stopped.value.extra == {"timeout_ms": 300}
            assert "Narrow it" in stopped.value.detail
            assert statement_timeout() == before  # the limit ended with the statement

    # The connection (and a caller's transaction) still works, with no limit left behind.
    listing = make_listing(ProviderFactory(state="TX"), title="Dog grooming")
    assert found(search) == [listing.pk]
    assert statement_timeout() == before


def test_the_time_limit_travels_with_the_search_statement(settings):
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 1234
    make_listing(ProviderFactory(), title="Dog grooming")

    def searches() -> list[str]:
        with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
            found(listing_search(query="grooming"))
        return [query["sql"] for query in captured if "service_listings" in query["sql"]]

    [statement] = searches()
    assert statement.startswith("SET LOCAL statement_timeout = 1234; SELECT ")
    settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS = 0
    [statement] = searches()
    assert statement.startswith("SELECT ")
