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
owner only.) From those:

- `expected` = walk rows x the product of the terms' shares: the matches the walk would find if the
  terms were independent. Below the cap + 1, the walk is expected to stop short.
- `bound` = listings x the rarest word's share x the facets' shares: the most matches the search
  can have if its words are as correlated as can be (the words of one trade) and its facets are
  independent of them (a state says nothing of the words).

The search reads through the GIN index at once when `expected` is below the cap + 1 and `bound` is
within twice the walk's length, so that what the GIN read may fetch stays of the walk's order
whatever the catalogue's size. Independence errs both ways. Terms that never occur together (two
trades' words) are estimated as common together: they walk, then read their few matches through the
GIN index, as before. Terms that always occur together are estimated as rarer than they are: the GIN
read fetches all their matches, at most `bound`. Measured on 300 random searches at a million
listings (docs/decisions/0006-bounded-listing-search.md): the mean 29.8 -> 19.6 ms, p95 81 -> 60 ms,
p99 134 -> 114 ms.

A lexeme missing from the list is rarer than every listed one: it counts as half the least share
listed (at most 0.5 %), as in PostgreSQL's own estimate. Without statistics (a table never analyzed,
or a database error reading them), or for a query that is not plain words (quotes, `-word`,
parentheses, `or`, any punctuation the websearch parser could read as an operator), the search walks
first, as before.

The statistics are read once per LISTING_SEARCH_STATISTICS_SECONDS per process (also when there were
none, or reading them failed); the query's words are turned into lexemes by PostgreSQL (`to_tsvector`, the search's own
configuration) once per word per process (an LRU of recent words of up to 40 characters).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from marketplace_app.search_document import FACETS, TEXT_SEARCH_CONFIG

logger = logging.getLogger(__name__)

#: Words turned into lexemes, kept per process (the least recently used dropped first).
_WORDS_KEPT = 20_000
#: Longer words are looked up each time rather than kept (what is kept stays small).
_WORD_KEPT_CHARS = 40
#: PostgreSQL's share for a lexeme its list does not hold is at most this (DEFAULT_TS_MATCH_SEL).
_MISSING_LEXEME_SHARE = 0.005
#: A plain query: words of letters and digits only. Anything else (quotes, `-word`, parentheses,
#: `or` in any case, punctuation the websearch parser reads as an operator) walks first.
_PLAIN_WORD = re.compile(r"[^\W_]+")


_STATISTICS_SQL = """
SELECT s.attname, s.most_common_elems::text::text[], s.most_common_elem_freqs, s.most_common_vals::text::text[],
       s.most_common_freqs, s.n_distinct, s.null_frac, c.reltuples
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND NOT s.inherited
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


_lock = threading.Lock()
#: Per database alias: when it was read, and what (None: no statistics yet).
_statistics: dict[str, tuple[float, TermShares | None]] = {}
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
        cursor.execute(_STATISTICS_SQL, [["search_vector", *FACETS]])
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    words = rows.get("search_vector")
    if words is None or not words[0] or not words[1]:
        return None  # never analyzed (or too few rows for a list): walk first
    elements, frequencies, *_, listings = words
    # most_common_elem_freqs: one share per element, then summary values (the least and the
    # greatest share), which are not read.
    shares = dict(zip(elements, frequencies[: len(elements)], strict=True))
    listings = max(listings, 0.0)
    return TermShares(
        words=ValueShares(shares=shares, missing=min(_MISSING_LEXEME_SHARE, min(shares.values()) / 2)),
        facets={name: _facet_shares(*row[2:6], listings) for name, row in rows.items() if name in FACETS},
        listings=listings,
    )


def term_shares(alias: str) -> TermShares | None:
    """The statistics as `alias` holds them (None: it has none yet), read again after
    LISTING_SEARCH_STATISTICS_SECONDS."""
    with _lock:
        known = _statistics.get(alias)
    if known is not None and time.monotonic() - known[0] < settings.LISTING_SEARCH_STATISTICS_SECONDS:
        return known[1]
    shares = _read_statistics(alias)
    with _lock:
        _statistics[alias] = (time.monotonic(), shares)
    return shares


def forget() -> None:
    """Drop what this process has read (tests, after ANALYZE)."""
    with _lock:
        _statistics.clear()
        _lexemes.clear()


def _plain_words(query: str) -> list[str] | None:
    """The words of a query of plain words (letters and digits, no `or`); None for anything else."""
    words = query.split()
    if any(not _PLAIN_WORD.fullmatch(word) or word.lower() == "or" for word in words):
        return None
    return words


def _word_lexemes(alias: str, words: list[str]) -> list[str]:
    with _lock:
        missing = [word for word in dict.fromkeys(words) if word not in _lexemes]
    if missing:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT w, tsvector_to_array(to_tsvector(%s::regconfig, w)) FROM unnest(%s::text[]) w",
                [TEXT_SEARCH_CONFIG, missing],
            )
            found = cursor.fetchall()
        looked_up = {word: tuple(lexemes) for word, lexemes in found}
        with _lock:
            for word, lexemes in looked_up.items():
                if len(word) <= _WORD_KEPT_CHARS:
                    _lexemes[word] = lexemes
            while len(_lexemes) > _WORDS_KEPT:
                _lexemes.popitem(last=False)
    else:
        looked_up = {}
    with _lock:
        out = []
        for word in words:
            if word in _lexemes:
                _lexemes.move_to_end(word)
                out.extend(_lexemes[word])
            else:
                out.extend(looked_up.get(word, ()))
    return out


def gin_first(alias: str, *, query: str, facets: dict[str, str | None], walk_rows: int, count_cap: int) -> bool:
    """Whether a search of several terms should read its matches through the GIN index without
    walking first (the module's docstring): its walk of `walk_rows` listings is expected to find
    fewer than `count_cap` + 1 matches, and its matches are bounded within twice the walk's length.
    `facets`: as `listing_search.search_facets` gives them. Any doubt (operators in the query, no
    statistics, a database error reading them) walks first."""
    words = _plain_words(query)
    if words is None:
        return False
    # Inside a transaction (a caller's, or a test's) a failed read must not abort it: a savepoint.
    # In autocommit, as the API reads, a failed statement leaves nothing to undo.
    guard = transaction.atomic(using=alias) if connections[alias].in_atomic_block else nullcontext()
    try:
        with guard:
            statistics = term_shares(alias)
            lexemes = set(_word_lexemes(alias, words)) if statistics is not None else set()
    except DatabaseError as exc:  # the walk needs none of this: the search goes on without it
        # Taken as "no statistics" for the period, as a table without any is: every search of
        # several terms sending a statement that fails, and logging it, would cost more than it saves.
        with _lock:
            _statistics[alias] = (time.monotonic(), None)
        logger.warning("listing search statistics not read, searches walk first for a while: %s", exc)
        return False
    if statistics is None or not lexemes:
        return False  # no statistics; or stop words alone, which match nothing either way
    words_shares = [statistics.words.share(lexeme) for lexeme in lexemes]
    facet_shares = [
        statistics.facets[name].share(value) for name, value in facets.items() if value and name in statistics.facets
    ]
    expected = walk_rows * math.prod(words_shares) * math.prod(facet_shares)
    bound = statistics.listings * min(words_shares) * math.prod(facet_shares)
    return expected < count_cap + 1 and bound <= 2 * walk_rows
