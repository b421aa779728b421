"""The listing search document: what the listing search's GIN index holds and what its query matches.

A listing's text lexemes (`search_vector`) plus one lexeme per facet, "category=grooming",
"state=TX", "city=Austin", each the column's value verbatim. A search with text and facets is then
one tsquery ('groom' & 'puppi' & 'state=TX') that the GIN index answers in one scan, intersecting
inside the index. Before, the planner ANDed the text index's bitmap with a B-tree bitmap of every
listing in the state: at a million listings that bitmap alone (160,000 entries) cost as much as the
rest of the search and went lossy in the default work_mem, so most heap pages were read twice over
(measured with bench/).

An expression index rather than a stored column: adding it needs no table rewrite, and it is built
CONCURRENTLY. It is not partial (`status = 'active'` stays a plain filter) because PostgreSQL keeps
statistics for the expressions of non-partial indexes only, and without them it estimated every
search at one row.

The user's words can never produce a facet lexeme: the text-search parser splits words at "=", and
facet lexemes reach a query only through `facet_tsquery`, which quotes them.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db.models import Func
from django.utils.deconstruct import deconstructible

#: The facets, in the document's order: the listing columns a search filters on by equality.
FACETS = ("category", "state", "city")
#: The text-search configuration of the listing's `search_vector` (marketplace_app/models/listings.py), which
#: every statement turning a searcher's words into lexemes must use too.
TEXT_SEARCH_CONFIG = "english"

#: The indexed expression, as the query writes it too (PostgreSQL matches the parsed expressions, so
#: both must say the same). Bare column names: the search query reads one table.
LISTING_SEARCH_DOCUMENT_SQL = (
    "(search_vector || array_to_tsvector(ARRAY[" + ", ".join(f"'{facet}=' || {facet}" for facet in FACETS) + "]))"
)


@deconstructible(path="marketplace_app.search_document.ListingSearchDocument")
class ListingSearchDocument(Func):
    """An index expression of raw SQL (ServiceListing.Meta.indexes passes
    `LISTING_SEARCH_DOCUMENT_SQL`). The SQL is the argument, not a class attribute, so the migration
    records it and a change to it is a change `makemigrations` sees."""

    def __init__(self, sql: str):
        super().__init__(output_field=SearchVectorField(), template=sql)


def _quoted_lexeme(lexeme: str) -> str:
    # tsquery input: a quoted lexeme takes every character literally once a quote is doubled and a
    # backslash escaped.
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def facet_tsquery(**facets: str | None) -> str | None:
    """tsquery text matching the listings whose facets equal these values exactly (None or "" is
    no filter), or None when there is no facet to match: `facet_tsquery(state="TX")` is
    `'state=TX'`."""
    unknown = set(facets) - set(FACETS)
    if unknown:
        raise ValueError(f"not a listing facet: {', '.join(sorted(unknown))}")
    terms = [_quoted_lexeme(f"{name}={value}") for name, value in facets.items() if value]
    return " & ".join(terms) or None
