"""The listing search's plan at a realistic shape: PostgreSQL chooses, per statement, between walking
the stored order's B-tree index (a common word: most listings match, the walk stops at the page) and
the GIN index over the search document (a rare word: few matches, found directly, then sorted).

40,000 active listings, "dog" in four of five titles, "ferret" in five; the statistics PostgreSQL
plans from are taken with ANALYZE (as the owner role: the application role may not). The statement
is explained exactly as the application sends it: client-side binding, values inline, unprepared."""

import json

import psycopg
import pytest
from django.conf import settings
from django.db import connections

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.listing_search import listing_search
from tests.factories.marketplace import ProviderFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)

LISTINGS = 40_000


@pytest.fixture
def catalogue():
    # Several providers, as in any real catalogue (with one, the deleted-provider anti-join's
    # estimate says it removes every listing).
    providers = [ProviderFactory(state="TX", city="Austin").pk for _ in range(20)]
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO service_listings (provider_id, slug, title, description, status, category, state, city,"
            " price_cents, currency, category_metadata, published_at, search_score, version, created_at, updated_at)"
            " SELECT (%s::bigint[])[1 + n %% 20], 'plan-' || n,"
            " CASE WHEN n %% 8000 = 7 THEN 'Ferret sitting' WHEN n %% 5 = 0 THEN 'Cat grooming'"
            "  ELSE 'Dog grooming' END || ' ' || n,"
            " 'Friendly care, nails and bath', 'active',"
            " (ARRAY['grooming','training','boarding','puppies'])[1 + n %% 4],"
            " (ARRAY['TX','CO','CA','NY','FL'])[1 + n %% 5], 'Austin', 1000 + n, 'USD', '{}'::jsonb,"
            " now() - n * interval '1 minute', extract(epoch FROM now())::bigint - n * 60, 1, now(), now()"
            " FROM generate_series(1, %s) n",
            [providers, LISTINGS],
        )
    params = connections[MARKETPLACE_DB].get_connection_params()
    with psycopg.connect(
        **{**params, "user": settings.DATABASE_OWNER_USER, "password": settings.DATABASE_OWNER_PASSWORD},
        autocommit=True,
    ) as owner:
        owner.execute("ANALYZE service_listings")
        owner.execute("ANALYZE marketplace_providers")


def plan(**search) -> dict:
    sql, params = listing_search(**search).page_sql(offset=0, limit=25)
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        [[document]] = cursor.fetchall()
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]


def nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def index_scans(root: dict) -> dict[str, list[dict]]:
    """The plan's index scans by index name: the listings are read once, in the statement's CTE."""
    scans: dict[str, list[dict]] = {}
    for node in nodes(root):
        if "Index Name" in node:
            scans.setdefault(node["Index Name"], []).append(node)
    return scans


def test_a_common_word_walks_the_stored_order_and_stops_after_the_cap(catalogue):
    root = plan(query="dog")
    scans = index_scans(root)
    assert "listings_search_document_gin" not in scans, json.dumps(root, indent=1)
    [scan] = scans["listings_active_by_score"]
    # One read for the page and the count: the first cap + 1 matches (and the few non-matches between
    # them), not the 32,000 matches.
    assert scan["Actual Rows"] == settings.LISTING_SEARCH_COUNT_CAP + 1
    assert scan.get("Rows Removed by Filter", 0) < settings.LISTING_SEARCH_COUNT_CAP


def test_a_rare_word_is_found_through_the_document_index(catalogue):
    root = plan(query="ferret")
    scans = index_scans(root)
    assert "listings_search_document_gin" in scans, json.dumps(root, indent=1)
    assert "listings_active_by_score" not in scans


def test_the_count_stops_at_the_cap(catalogue):
    rows, count = listing_search(query="dog").page(offset=0, limit=25)
    assert len(rows) == 25 and count == settings.LISTING_SEARCH_COUNT_CAP + 1  # "1,000+"
    rows, count = listing_search(query="ferret").page(offset=0, limit=25)
    assert len(rows) == count == 5
