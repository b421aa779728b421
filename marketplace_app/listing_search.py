"""The public listing search (read side): filters, the stored order, relevance over the first
candidates, and a count capped at LISTING_SEARCH_COUNT_CAP.

What a search costs does not grow with the number of its matches (docs/decisions/0006-bounded-
listing-search.md):
- The search reads its first LISTING_SEARCH_COUNT_CAP + 1 matches in a stored order, once
  (`search_score`, marketplace_app/listing_score.py, or `published_at` for "newest"), from a
  partial B-tree index, the text and the filters checked on each row. A common word ("dog", most
  listings) is then a short index walk. Rare words would make that walk long, so PostgreSQL instead
  finds their few matches through the GIN index over the listing search document (marketplace_app/
  search_document.py) and sorts them: the planner chooses from its statistics, per statement
  (measured at a million listings: the walk up to about 1 % of listings matching, the GIN index
  below, which is also where each is the cheaper).
  That holds for one word. With several terms the planner's estimate assumes them independent and
  can be far off, so those walk a bounded number of listings, then use the GIN index (`_matches`);
  a search whose walk the statistics of its terms say would stop short skips it
  (marketplace_app/search_statistics.py).
- The page is a slice of those matches and the count is their number: exact up to the cap, past it
  "at least the cap" (`count_capped`), proven by the read itself. Pages end at the cap too: a search
  with more matches is narrowed to see the others. So counting reads nothing the pages could not show.
- Relevance (`ts_rank`) orders only the first LISTING_SEARCH_RERANK_CANDIDATES of them; the matches
  after those follow in the stored order. So the first pages of a search show its best text matches
  among its best listings, and no search ranks every match.

Written out as SQL rather than built with the ORM: this is the public marketplace's hottest read,
and compiling the ORM query cost more CPU than the rest of the request (measured with bench/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from breederhq.errors import TimedOut, ValidationFailed
from breederhq.read_replica import marketplace_read_alias
from breederhq.statement_timeout import statement_time_limit
from marketplace_app import search_statistics
from marketplace_app.models import ServiceListing
from marketplace_app.provider_suspension import PROVIDER_NOT_SUSPENDED_SQL
from marketplace_app.search_document import LISTING_SEARCH_DOCUMENT_SQL, TEXT_SEARCH_CONFIG, facet_tsquery

SEARCH_ORDERS = ("relevance", "newest")

#: The columns of a listing search row, as `.values()` would name them (the API renders these).
LISTING_PAGE_COLUMNS = (
    ("l.id", "id"),
    ("l.slug", "slug"),
    ("l.title", "title"),
    ("l.category", "category"),
    ("l.price_cents", "price_cents"),
    ("l.currency", "currency"),
    ("l.city", "city"),
    ("l.state", "state"),
    ("l.published_at", "published_at"),
    ("l.provider_id", "provider_id"),
    ("p.business_name", "provider__business_name"),
    ("p.kind", "provider__kind"),
    ("p.city", "provider__city"),
    ("p.state", "provider__state"),
)
_LISTING_PAGE_KEYS = tuple(key for _, key in LISTING_PAGE_COLUMNS)
_LISTING_COLUMNS = ", ".join(column for column, _ in LISTING_PAGE_COLUMNS if column.startswith("l."))
_TSQUERY = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}'::regconfig, %s)"

#: The stored orders, each the key of a partial index on active listings (ServiceListing.Meta).
_STORED_ORDER = {
    "relevance": "l.search_score DESC NULLS LAST, l.id DESC",
    "newest": "l.published_at DESC NULLS LAST, l.id DESC",
}

#: The stored orders written so that no index yields them: the matches found through the GIN index are
#: sorted, never re-read by walking the order's index (see `ListingSearch._matches`).
_UNINDEXED_ORDER = {
    "relevance": "l.search_score + 0 DESC NULLS LAST, l.id DESC",
    "newest": "l.published_at + interval '0 seconds' DESC NULLS LAST, l.id DESC",
}

#: Whether a bounded walk saw every active listing (a small catalogue), so that its fewer than cap + 1
#: matches are all of them: evaluated only then (an InitPlan runs when it is first used).
_WALK_COMPLETE = (
    "CASE WHEN {matches} <= %s THEN (SELECT count(*) <= %s FROM (SELECT 1 FROM service_listings a"
    " WHERE a.status = %s LIMIT %s) a) ELSE false END"
)

#: A listing is public only while its provider is: the few soft-deleted providers are excluded by
#: an anti-join (their index entries), not by joining every match to its provider row; the page's
#: own rows are joined to their providers after the LIMIT.
_PROVIDER_LIVE = (
    "NOT EXISTS (SELECT 1 FROM marketplace_providers d WHERE d.id = l.provider_id AND d.deleted_at IS NOT NULL)"
)


@dataclass(frozen=True)
class ListingSearch:
    """A listing search, written out as SQL: the filters (`where`, `params`) and the order. Read it
    a page at a time with `page()` (the page and the capped count in one statement)."""

    where: str
    params: tuple
    query: str | None
    order: str
    timeout_ms: int
    count_cap: int
    candidates: int
    #: The same filters checked on the columns (`search_vector`, the facet columns) rather than the
    #: search document, for the bounded walk of a search of several terms; None: one word alone,
    #: where the planner chooses the path itself (`_matches`).
    walk_where: str | None = None
    walk_params: tuple = ()
    walk_rows: int = 0
    #: A search of several terms whose walk would stop short, by the statistics of its terms: read
    #: through the GIN index at once (marketplace_app/search_statistics.py).
    gin_first: bool = False

    @property
    def reranked(self) -> bool:
        return self.query is not None and self.order == "relevance"

    @property
    def paths(self) -> tuple[str, ...]:
        """How the search reads its matches, in the order `page()` tries them (`_matches`)."""
        if self.walk_where is None:
            return ("planner",)
        return ("gin",) if self.gin_first else ("walk", "gin")

    def _matches(self, *, columns: str, limit: int, path: str) -> tuple[str, list]:
        """The first `limit` matches in the stored order, as a subquery, read by `path`:

        - "planner" (one word alone): PostgreSQL chooses between walking the stored order's B-tree
          (stopped at `limit` matches) and the GIN index then a sort; its estimate of one word's
          matches is right.
        - "walk" (several terms): at most `walk_rows` listings of the stored order, the filters
          checked on the columns (cheaper per row than the document). With several terms PostgreSQL
          multiplies their frequencies as if independent, and words each common but rarely together
          (two categories' words: none of a million listings) were walked to the index's end.
        - "gin": the matches found through the GIN index and sorted in an order no index yields, so
          PostgreSQL cannot walk instead; `page()` sends it only when the walk found fewer than
          `limit` (then the matches are few: fewer than `limit` among the first `walk_rows`).

        Each gives the first `limit` matches in the stored order, or fewer when the walk stopped."""
        stored = _STORED_ORDER[self.order]
        if path == "walk":
            sql = (
                f"SELECT {columns} FROM (SELECT * FROM service_listings l WHERE l.status = %s ORDER BY {stored}"
                f" LIMIT %s) l WHERE {self.walk_where} ORDER BY {stored} LIMIT %s"
            )
            return sql, [ServiceListing.Status.ACTIVE.value, self.walk_rows, *self.walk_params, limit]
        order = _UNINDEXED_ORDER[self.order] if path == "gin" else stored
        return f"SELECT {columns} FROM service_listings l WHERE {self.where} ORDER BY {order} LIMIT %s", [
            *self.params,
            limit,
        ]

    def _count_sql(self, path: str = "planner") -> tuple[str, list]:
        """The capped count by `path` (`_matches`): "planner" in no order (stopped at cap + 1 matches),
        "walk" with whether the walk saw every active listing (`page_sql`), "gin" (sent only after a
        walk that stopped short of the cap: then the matches are few, and sorting them is cheap)."""
        if path == "planner":
            return (
                f"SELECT count(*) FROM (SELECT 1 FROM service_listings l WHERE {self.where} LIMIT %s) capped",
                [*self.params, self.count_cap + 1],
            )
        matches, params = self._matches(columns="l.id", limit=self.count_cap + 1, path=path)
        if path == "walk":
            return f"SELECT count(*), {_WALK_COMPLETE.format(matches='count(*)')} FROM ({matches}) capped", [
                *self._walk_complete_params(),
                *params,
            ]
        return f"SELECT count(*) FROM ({matches}) capped", params

    def _walk_complete_params(self) -> list:
        return [self.count_cap, self.walk_rows, ServiceListing.Status.ACTIVE.value, self.walk_rows + 1]

    def page_sql(self, *, offset: int, limit: int, path: str | None = None) -> tuple[str, list]:
        """The one statement `page()` sends, with its parameters (also for EXPLAIN).

        It reads the first `count_cap + 1` matches in the stored order once (`m`): their number is the
        capped count (a window over them, before the page's LIMIT), and the page is a slice of the
        first `count_cap` (pages end at the cap). With a query the first `candidates` of them (at most
        the cap: the match that only proves "cap+" stays last) are ordered by relevance (`part` 0),
        the others following in the stored order (`part` 1). So counting costs no read beyond the
        matches a page may show. `path`: how the matches are read (`_matches`; by default the first
        of `paths`)."""
        path = path or self.paths[0]
        columns = f"{_LISTING_COLUMNS}, l.search_score"
        if self.reranked:
            columns += ", l.search_vector"
        matches, params = self._matches(columns=columns, limit=self.count_cap + 1, path=path)
        stored = _STORED_ORDER[self.order]
        if self.reranked:
            ranked = (
                f"SELECT m.*, CASE WHEN m.n <= %s THEN 0 ELSE 1 END AS part, CASE WHEN m.n <= %s"
                f" THEN ts_rank(m.search_vector, {_TSQUERY}) ELSE 0 END AS rank"
                f" FROM (SELECT l.*, row_number() OVER (ORDER BY {stored}) AS n FROM ({matches}) l) m"
            )
            ranked_first = min(self.candidates, self.count_cap)
            params = [ranked_first, ranked_first, self.query, *params]
            order = "l.part, l.rank DESC, l.search_score DESC NULLS LAST, l.id DESC"
        else:
            ranked = matches
            order = stored
        # Pages end at the cap: the match after it only proves "cap+", and no page shows it.
        sql = (
            f"SELECT {', '.join(column for column, _ in LISTING_PAGE_COLUMNS)}, l.matches"
            f" FROM (SELECT l.*, count(*) OVER () AS matches FROM ({ranked}) l ORDER BY {order} LIMIT %s OFFSET %s) l"
            f" JOIN marketplace_providers p ON p.id = l.provider_id ORDER BY {order}"
        )
        params = [*params, max(0, min(limit, self.count_cap - offset)), offset]
        if path == "walk":
            # Whether the walk saw every active listing (a small catalogue), so that fewer than
            # cap + 1 matches are all of them: evaluated only then (an InitPlan runs when first used).
            sql = sql.replace(", l.matches FROM", f", l.matches, {_WALK_COMPLETE.format(matches='l.matches')} FROM", 1)
            params = [*self._walk_complete_params(), *params]
        return sql, params

    def page(self, *, offset: int, limit: int) -> tuple[list[dict], int]:
        """(rows, matches counted up to `count_cap + 1`): dicts of `LISTING_PAGE_COLUMNS`' keys, in
        order. A page with no rows answers the count with a second statement (`count()`). A search
        of several terms whose bounded walk finds fewer than `count_cap + 1` matches is read again
        through the GIN index (`_matches`): the same page and count as the walk would give, were it
        not bounded."""
        path = self.paths[-1]
        if self.paths[0] == "walk":
            rows = _fetch_within_timeout(
                *self.page_sql(offset=offset, limit=limit, path="walk"), timeout_ms=self.timeout_ms
            )
            if rows and (rows[0][-2] > self.count_cap or rows[0][-1]):
                return [dict(zip(_LISTING_PAGE_KEYS, row[:-2], strict=True)) for row in rows], rows[0][-2]
            if not rows:  # past the walk's matches: all of them, or the walk stopped before the cap
                count, complete = _fetch_within_timeout(*self._count_sql("walk"), timeout_ms=self.timeout_ms)[0]
                if count > self.count_cap or complete:
                    return [], count
        rows = _fetch_within_timeout(*self.page_sql(offset=offset, limit=limit, path=path), timeout_ms=self.timeout_ms)
        if not rows:  # (after a walk that stopped short, its matches are few: no need to walk again)
            return [], _fetch_within_timeout(*self._count_sql(path), timeout_ms=self.timeout_ms)[0][0]
        return [dict(zip(_LISTING_PAGE_KEYS, row[:-1], strict=True)) for row in rows], rows[0][-1]

    def count(self) -> int:
        """The number of matches, counted up to `count_cap + 1` (more than the cap: "cap+"). A search
        of several terms counts its bounded walk first, as `page()` reads it: a common pair of words
        stops there (counting through the GIN index would read and sort every one of its matches);
        only when the walk stopped short of the cap, its matches being few, are they counted
        through the GIN index."""
        if self.paths[0] == "walk":
            count, complete = _fetch_within_timeout(*self._count_sql("walk"), timeout_ms=self.timeout_ms)[0]
            if count > self.count_cap or complete:
                return count
        return _fetch_within_timeout(*self._count_sql(self.paths[-1]), timeout_ms=self.timeout_ms)[0][0]


def _fetch_within_timeout(sql: str, params, *, timeout_ms: int) -> list[tuple]:
    """The rows of one search statement, which PostgreSQL stops after `timeout_ms`: then `TimedOut`
    (503 `search_timeout`), and the connection is as it was (breederhq/statement_timeout.py: the
    limit travels with the statement, in the same message)."""
    alias = marketplace_read_alias()  # the replica in the public view (breederhq/read_replica.py)
    with statement_time_limit(alias, timeout_ms, on_timeout=lambda: search_timed_out(timeout_ms)):
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def search_timed_out(timeout_ms: int) -> TimedOut:
    """The 503 `search_timeout` problem of a public search stopped by its time limit."""
    return TimedOut(
        f"The search was stopped after {timeout_ms} ms. Narrow it (a category, state or city, a price range, "
        "or more specific words) and try again.",
        timeout_ms=timeout_ms,
        code="search_timeout",
    )


def listing_search(
    *,
    query: str | None = None,
    category: str | None = None,
    state: str | None = None,
    city: str | None = None,
    price_min_cents: int | None = None,
    price_max_cents: int | None = None,
    metadata: dict | None = None,
    metadata_keys: list[str] | None = None,
    order: str = "relevance",
    timeout_ms: int | None = None,
) -> ListingSearch:
    """Active listings of providers that are not deleted, filtered, in the stored order ("relevance":
    `search_score`, the first candidates re-ranked by `ts_rank` when there is a query; "newest":
    `published_at`). `timeout_ms` defaults to LISTING_SEARCH_STATEMENT_TIMEOUT_MS.

    The query uses websearch syntax with the english configuration, against the stored
    `search_vector` (title weighted over description). With a query, the category, state and city
    filters are matched in the same tsquery, against the listing search document
    (`search_document`: the text lexemes plus "state=TX"-style facet lexemes, one GIN index);
    without one, by plain equality. A query of stop words alone matches nothing, with or without
    filters. `metadata` matches by containment (`category_metadata @> metadata`), `metadata_keys`
    requires every key to be present (`?&`).
    """
    if order not in SEARCH_ORDERS:
        raise ValidationFailed("Unknown order.", field_errors={"order": [f"One of {', '.join(SEARCH_ORDERS)}."]})
    where, params = ["l.status = %s", _PROVIDER_LIVE, PROVIDER_NOT_SUSPENDED_SQL], [ServiceListing.Status.ACTIVE.value]
    facets = search_facets(category=category, state=state, city=city)
    query = query.strip() if query and query.strip() else None
    # The bounded walk's filters (`ListingSearch._matches`): the same, on the columns. The document
    # is `search_vector` plus the facet lexemes, which no word of the query can be
    # (marketplace_app/search_document.py), so matching both ways selects the same listings.
    walk_where, walk_params = list(where), list(params)
    facet_columns = [(f"l.{column} = %s", value) for column, value in facets.items() if value]
    if query is None:
        for condition, value in facet_columns:
            where.append(condition)
            params.append(value)
    elif (facet_query := facet_tsquery(**facets)) is not None:
        # `&&` with a query of stop words alone (an empty tsquery) would leave the facets alone:
        # numnode() keeps such a search empty, as it is without facets (a one-time filter).
        where.extend([f"{LISTING_SEARCH_DOCUMENT_SQL} @@ ({_TSQUERY} && %s::tsquery)", f"numnode({_TSQUERY}) > 0"])
        params.extend([query, facet_query, query])
        walk_where.extend([condition for condition, _ in facet_columns])
        walk_params.extend([value for _, value in facet_columns])
    else:
        where.append(f"{LISTING_SEARCH_DOCUMENT_SQL} @@ {_TSQUERY}")
        params.append(query)
    if query is not None:
        # numnode(): a query of stop words alone walks nothing (a one-time filter).
        walk_where.extend([f"l.search_vector @@ {_TSQUERY}", f"numnode({_TSQUERY}) > 0"])
        walk_params.extend([query, query])
    # One word alone: the planner's estimate of its matches is right, so it chooses the path.
    bounded_walk = query is not None and (len(query.split()) > 1 or bool(facet_columns))
    tail, tail_params = len(where), len(params)
    if price_min_cents is not None:
        where.append("l.price_cents >= %s")
        params.append(price_min_cents)
    if price_max_cents is not None:
        where.append("l.price_cents <= %s")
        params.append(price_max_cents)
    if metadata:
        where.append("l.category_metadata @> %s::jsonb")
        params.append(json.dumps(metadata))
    if metadata_keys:
        where.append("l.category_metadata ?& %s::text[]")
        params.append(list(metadata_keys))
    walk_where += where[tail:]
    walk_params += params[tail_params:]
    gin_first = bounded_walk and search_statistics.gin_first(
        marketplace_read_alias(),
        query=query,
        facets=facets,
        walk_rows=settings.LISTING_SEARCH_WALK_ROWS,
        count_cap=settings.LISTING_SEARCH_COUNT_CAP,
    )
    return ListingSearch(
        where=" AND ".join(where),
        params=tuple(params),
        query=query,
        order=order,
        timeout_ms=settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS if timeout_ms is None else timeout_ms,
        count_cap=settings.LISTING_SEARCH_COUNT_CAP,
        candidates=settings.LISTING_SEARCH_RERANK_CANDIDATES,
        walk_where=" AND ".join(walk_where) if bounded_walk else None,
        walk_params=tuple(walk_params),
        walk_rows=settings.LISTING_SEARCH_WALK_ROWS,
        gin_first=gin_first,
    )


def search_facets(*, category: str | None, state: str | None, city: str | None) -> dict[str, str | None]:
    """The facet filters as the listings store them (listing_create's normalisation), so that
    equality finds them: also what the search cache scopes an answer by."""
    return {
        "category": category or None,
        "state": state.strip().upper() if state and state.strip() else None,
        "city": city.strip() if city and city.strip() else None,
    }
