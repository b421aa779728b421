"""How common a search's terms are, read from PostgreSQL's own statistics of the listings, so that a
search of several terms skips a walk that cannot find enough of its matches.

A search of several terms first walks up to LISTING_SEARCH_WALK_ROWS listings in the stored order
(marketplace_app/listing_search.py, `ListingSearch._matches`) and only when that walk finds fewer
than the count cap + 1 matches does it read them through the GIN index. For a search whose terms
are rare together ("kennel" in one state) the walk is wasted work: at a million listings it cost
about 50 ms before a GIN read of 10 ms (measured with bench/). ANALYZE already records the share of
listings holding each of the most common lexemes of `search_vector`, and each common value of the
facet columns (category, state, city), with how many distinct values there are. (The GIN index's
own expression statistics would hold both, but PostgreSQL shows an index's statistics to its
owner only.) From those, the matches the walk would find if the terms were independent: walk rows x the product of their
shares. Below the cap + 1, the walk is expected to stop short, and the search reads through the GIN
index at once.

Independence is wrong both ways, and the walk is the guard against the one that costs most: terms
that never occur together (two trades' words) are estimated as common together, walk, and find
their few matches through the GIN index after the walk, as before. Terms that always occur together
(two words of one trade, and a state) are estimated as rarer than they are, and the GIN index then
reads and sorts all their matches. Measured on 300 random searches at a million listings
(docs/decisions/0006-bounded-listing-search.md): the mean 30 -> 19 ms, p95 81 -> 40 ms, p99 134 ->
108 ms; the worst of the second kind 12 -> 127 ms.

A lexeme missing from the list is rarer than every listed one: it counts as half the least share
listed, as PostgreSQL's own estimate does. Without statistics (a table never analyzed), or for a
query with operators (`or`, `-word`, quotes), the search walks first, as before.

The statistics are read once per LISTING_SEARCH_STATISTICS_SECONDS per process; the query's words
are turned into lexemes by PostgreSQL (`to_tsvector`, the search's own configuration) once per word
per process (an LRU of recent words).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

#: Words turned into lexemes, kept per process (the least recently used dropped first).
_WORDS_KEPT = 20_000

#: The facets a search filters on (marketplace_app/search_document.py): their columns' statistics.
FACET_COLUMNS = ("category", "state", "city")

_STATISTICS_SQL = """
SELECT s.attname, s.most_common_elems::text::text[], s.most_common_elem_freqs, s.most_common_vals::text::text[],
       s.most_common_freqs, s.n_distinct, s.null_frac, c.reltuples
FROM pg_class c JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'service_listings'
WHERE c.oid = 'service_listings'::regclass AND s.attname = ANY(%s)
"""


@dataclass(frozen=True)
class ValueShares:
    """The share of listings holding each common value (a lexeme of `search_vector`, or a facet
    column's value), and what a value missing from the list counts as."""

    shares: dict[str, float]
    missing: float

    def share(self, value: str) -> float:
        return self.shares.get(value, self.missing)


@dataclass(frozen=True)
class TermShares:
    words: ValueShares
    facets: dict[str, ValueShares]
    listings: float
    read_at: float


_lock = threading.Lock()
_statistics: dict[str, TermShares | None] = {}
_lexemes: OrderedDict[str, tuple[str, ...]] = OrderedDict()


def _facet_shares(values, frequencies, n_distinct, null_frac, listings) -> ValueShares:
    """As PostgreSQL estimates `column = value`: a listed value's share, else the rest spread evenly
    over the other distinct values."""
    shares = dict(zip(values or (), frequencies or (), strict=True))
    distinct = n_distinct if n_distinct >= 0 else -n_distinct * listings
    others = max(distinct - len(shares), 1.0)
    return ValueShares(shares=shares, missing=max(1.0 - null_frac - sum(shares.values()), 0.0) / others)


def _read_statistics(alias: str) -> TermShares | None:
    with connections[alias].cursor() as cursor:
        cursor.execute(_STATISTICS_SQL, [["search_vector", *FACET_COLUMNS]])
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    words = rows.get("search_vector")
    if words is None or not words[0] or not words[1]:
        return None  # never analyzed (or too few rows for a list): walk first
    elements, frequencies, *_, listings = words
    # most_common_elem_freqs: one share per element, then the least and the greatest share and the
    # share of empty documents.
    shares = dict(zip(elements, frequencies[: len(elements)], strict=True))
    listings = max(listings, 0.0)
    return TermShares(
        words=ValueShares(shares=shares, missing=min(shares.values()) / 2),
        facets={name: _facet_shares(*row[2:6], listings) for name, row in rows.items() if name in FACET_COLUMNS},
        listings=listings,
        read_at=time.monotonic(),
    )


def term_shares(alias: str) -> TermShares | None:
    """The statistics as `alias` holds them, read again after LISTING_SEARCH_STATISTICS_SECONDS."""
    with _lock:
        known = _statistics.get(alias, False)
    if known is not False and (
        known is None or time.monotonic() - known.read_at < settings.LISTING_SEARCH_STATISTICS_SECONDS
    ):
        return known
    shares = _read_statistics(alias)
    with _lock:
        _statistics[alias] = shares
    return shares


def forget() -> None:
    """Drop what this process has read (tests, after ANALYZE)."""
    with _lock:
        _statistics.clear()
        _lexemes.clear()


def _plain_words(query: str) -> list[str] | None:
    """The words of a query written without websearch operators; None when it has any."""
    words = query.split()
    if any(word == "or" or word.startswith("-") or '"' in word for word in words):
        return None
    return words


def _word_lexemes(alias: str, words: list[str]) -> list[str]:
    with _lock:
        missing = [word for word in dict.fromkeys(words) if word not in _lexemes]
    if missing:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT w, tsvector_to_array(to_tsvector('english'::regconfig, w)) FROM unnest(%s::text[]) w",
                [missing],
            )
            found = cursor.fetchall()
        with _lock:
            for word, lexemes in found:
                _lexemes[word] = tuple(lexemes)
            while len(_lexemes) > _WORDS_KEPT:
                _lexemes.popitem(last=False)
    with _lock:
        out = []
        for word in words:
            if word in _lexemes:
                _lexemes.move_to_end(word)
                out.extend(_lexemes[word])
    return out


def gin_first(alias: str, *, query: str, facets: dict[str, str | None], walk_rows: int, count_cap: int) -> bool:
    """Whether a search of several terms should read its matches through the GIN index without
    walking first: its walk of `walk_rows` listings is expected to find fewer than `count_cap` + 1
    matches (the module's docstring). `facets`: as `listing_search.search_facets` gives them."""
    words = _plain_words(query)
    if words is None:
        return False
    statistics = term_shares(alias)
    if statistics is None:
        return False
    lexemes = set(_word_lexemes(alias, words))
    if not lexemes:
        return False  # stop words alone: the statement matches nothing either way
    shares = [statistics.words.share(lexeme) for lexeme in lexemes]
    for name, value in facets.items():
        if value and name in statistics.facets:
            shares.append(statistics.facets[name].share(value))
    return walk_rows * math.prod(shares) < count_cap + 1
