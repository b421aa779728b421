"""Where a listing search's time goes inside PostgreSQL, per class of search term.

The search reads its matches in the stored score order (marketplace_app/listing_search.py): for a
common word the planner walks the partial B-tree `listings_active_by_score` and stops after the
first cap + 1 matches (the page and the capped count); for rare words it finds the few matches
through the GIN index `listings_search_document_gin` and sorts them. The planner decides per
statement, from its statistics. This diagnostic runs EXPLAIN ANALYZE (median of 5 after a warm-up,
as the application role) of the statement the API sends for one search of each class and reports
which indexes the plan reads, whether that is the plan the class should get (EXPECTED_PLANS), its
time, and how many listings the words match. Then the reference search again after 2,000 listing
edits (rolled back), with the GIN index as deployed (no `fastupdate`) and with PostgreSQL's default
(`fastupdate`)."""

from __future__ import annotations

import json
import statistics
import time

from bench.environment import admin_url
from bench.probes.run import probe
from bench.targets import SEARCH_ARGUMENTS

#: One search per term class, from the generated vocabulary (bench/generate_text.py): its most common
#: word, a category word, the reference search (two words and a state), its rarest common word (still
#: one listing in twenty), and two rare words in a small state (a few hundred listings in a million).
TERM_CLASSES = {
    "broad word (most common)": {"query": "dog"},
    "category word": {"query": "grooming"},
    "two words and a state (the reference search)": SEARCH_ARGUMENTS,
    "rare word": {"query": "hypoallergenic"},
    "rare words and a state (few matches)": {"query": "hypoallergenic heated", "state": "MA"},
    "two categories' words (common, never together)": {"query": "brushing boarding"},
}
BTREE_INDEX, GIN_INDEX = "listings_active_by_score", "listings_search_document_gin"
#: The plan each class should get: one word alone from the planner's statistics (the B-tree walk in
#: score order while the first cap + 1 matches lie close together in it); several terms walk at most
#: LISTING_SEARCH_WALK_ROWS listings, then, when the walk stops before the cap, the GIN index and a
#: sort, in a second statement (both statements are explained and their times added); unless the
#: statistics of their terms say the walk would stop short (marketplace_app/search_statistics.py):
#: then the GIN index at once.
EXPECTED_PLANS = {
    "broad word (most common)": "B-tree in score order",
    "category word": "B-tree in score order",
    "two words and a state (the reference search)": "B-tree in score order",
    "rare word": "B-tree in score order",
    "rare words and a state (few matches)": "GIN, then sort",
    "two categories' words (common, never together)": "B-tree in score order and GIN",
}
#: Listing writes made (and rolled back) before the search is timed again.
LISTING_WRITES = 2_000


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def plan_kind(indexes: set[str]) -> str:
    if BTREE_INDEX in indexes and GIN_INDEX in indexes:
        return "B-tree in score order and GIN"
    if BTREE_INDEX in indexes:
        return "B-tree in score order"
    if GIN_INDEX in indexes:
        return "GIN, then sort"
    return "other: " + (", ".join(sorted(indexes)) or "no index")


def scenario_search_plan(environment: dict) -> dict:
    """A diagnostic: a failure is reported, not a failed run."""
    try:
        return _search_plan(environment)
    except Exception as exc:  # noqa: BLE001 - a diagnostic: the rest of the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _explain(conn, sqls: list[str]) -> dict:
    """The statements' times added (each the median of 5 after a warm-up) and the indexes they read."""
    out = {"execution_ms": 0.0, "planning_ms": 0.0, "shared_blocks": 0, "statements": len(sqls)}
    indexes: set[str] = set()
    for sql in sqls:
        plans = [conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").fetchone()[0][0] for _ in range(6)][1:]
        indexes |= {n["Index Name"] for n in plan_nodes(plans[0]["Plan"]) if "Index Name" in n}
        out["execution_ms"] += statistics.median(p["Execution Time"] for p in plans)
        out["planning_ms"] += statistics.median(p["Planning Time"] for p in plans)
        out["shared_blocks"] += plans[-1]["Plan"].get("Shared Hit Blocks", 0) + plans[-1]["Plan"].get(
            "Shared Read Blocks", 0
        )
    return {**out, "indexes": sorted(indexes), "plan": plan_kind(indexes)}


def _search_plan(environment: dict) -> dict:
    import psycopg

    statements = probe(
        {**environment, "LISTING_SEARCH_STATEMENT_TIMEOUT_MS": "0"},
        "search_statement",
        json.dumps(list(TERM_CLASSES.values())),
    )
    classes = {}
    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"], prepare_threshold=None) as conn:
        for (name, arguments), statement in zip(TERM_CLASSES.items(), statements, strict=True):
            classes[name] = {
                "query": arguments["query"],
                "state": arguments.get("state"),
                "matches": statement["matches"],
                "text_matches": statement["text_matches"],
                **_explain(conn, statement["sqls"]),
                "expected_plan": EXPECTED_PLANS[name],
            }
            classes[name]["as_expected"] = classes[name]["plan"] == EXPECTED_PLANS[name]
    reference = statements[list(TERM_CLASSES).index("two words and a state (the reference search)")]["sql"]
    return {"classes": classes, "after_writes": _search_after_listing_writes(environment, reference)}


def _search_after_listing_writes(environment: dict, sql: str) -> dict:
    """The search's execution time after LISTING_WRITES listing edits, with the GIN index as deployed
    (no `fastupdate`) and with PostgreSQL's default (`fastupdate` on: the writes' index entries wait
    in a pending list that every search scans); and each edit's time. Each run is one transaction as
    the tables' owner, rolled back (the index option with it); the table is vacuumed after each."""
    import psycopg

    owner = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    out = {"writes": LISTING_WRITES}
    with psycopg.connect(owner) as conn:
        for name, fastupdate in (("deployed", "off"), ("fastupdate", "on")):
            conn.execute(f"ALTER INDEX {GIN_INDEX} SET (fastupdate = {fastupdate})")
            started = time.perf_counter()
            conn.execute(
                "UPDATE service_listings SET title = title || ' (edited)'"
                " WHERE id IN (SELECT id FROM service_listings ORDER BY id DESC LIMIT %s)",
                [LISTING_WRITES],
            )
            write_ms = (time.perf_counter() - started) * 1000 / LISTING_WRITES
            times = [
                conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0][0]["Execution Time"]
                for _ in range(6)
            ][1:]
            out[name] = {"search_ms": statistics.median(times), "write_ms": write_ms}
            conn.rollback()
            with psycopg.connect(owner, autocommit=True) as vacuum:
                vacuum.execute("VACUUM service_listings")
    return out
