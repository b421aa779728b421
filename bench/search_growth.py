"""How the listing search grows with the marketplace: the search_plan diagnostic's statements (one
per term class, bench/search_plan.py) under EXPLAIN ANALYZE at 10 K, 100 K and 1 M listings, from
one data set. The largest point a scale reaches is its own `service_listings` (small scale: 10 K;
full: 1 M); each smaller point is a scratch copy of a random sample of the listings (row by row,
with a fixed seed: the same vocabulary in the same proportions, and the same categories, states,
prices and score spread; a prefix by id held none of the sampled words, and every k-th id only some
states, since the generator writes each provider's listings together and gives providers their
states in turn) in a schema of its own, with the deployed indexes (same names)
and fresh statistics, read through `search_path` by the same statement as the application role. Everything else the statement joins
(marketplace_providers) stays the full table; the copies are dropped afterwards."""

from __future__ import annotations

import json
import os

from bench.environment import admin_url
from bench.probes.run import probe
from bench.search_plan import TERM_CLASSES, _explain

#: The points (listings), BENCH_GROWTH_SIZES (comma-separated) overriding them.
SIZES = tuple(int(n) for n in os.environ.get("BENCH_GROWTH_SIZES", "10000,100000,1000000").split(","))
TABLE = "service_listings"
#: The copies' sample is the same on every run over the same data.
SAMPLE_SEED = 7


def scenario_search_growth(environment: dict) -> dict:
    """A diagnostic: a failure is reported, not a failed run."""
    try:
        return _growth(environment)
    except Exception as exc:  # noqa: BLE001 - a diagnostic: the rest of the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def schema_name(size: int) -> str:
    return f"bench_growth_{size}"


def build_copy(conn, size: int, app_role: str) -> None:
    """`size` listings, a random sample (the same on every run), in schema bench_growth_<size>,
    indexed as deployed."""
    schema = schema_name(size)
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(
        f"CREATE TABLE {schema}.{TABLE} (LIKE public.{TABLE} INCLUDING DEFAULTS INCLUDING GENERATED"
        " INCLUDING CONSTRAINTS)"
    )
    columns = ", ".join(
        row[0]
        for row in conn.execute(
            "SELECT quote_ident(column_name) FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
            [TABLE],
        ).fetchall()
    )
    total = conn.execute(f"SELECT count(*) FROM public.{TABLE}").fetchone()[0]
    # A little more than the share, then the first `size` of them by id: exactly `size` rows.
    percent = min(100.0, 110.0 * size / max(total, 1))
    conn.execute(
        f"INSERT INTO {schema}.{TABLE} ({columns}) SELECT {columns} FROM public.{TABLE}"
        f" TABLESAMPLE BERNOULLI (%s) REPEATABLE (%s) ORDER BY id LIMIT %s",
        [percent, SAMPLE_SEED, size],
    )
    for (definition,) in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s", [TABLE]
    ).fetchall():
        conn.execute(definition.replace(f" ON public.{TABLE} ", f" ON {schema}.{TABLE} "))
    conn.execute(f"VACUUM ANALYZE {schema}.{TABLE}")
    conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app_role}")
    conn.execute(f"GRANT SELECT ON {schema}.{TABLE} TO {app_role}")


def _statements_at(statement: dict, size: int) -> list[str]:
    """The statements a first page sends at `size` listings, from those captured at the full table: a
    walk bounded at `walk_rows` sees every listing of a smaller table, so its answer is complete and
    the GIN statement after it is not sent. (Between the bound and the full table, the captured
    statements are timed as they are.)"""
    return statement["sqls"][:1] if size <= statement["walk_rows"] else statement["sqls"]


def _growth(environment: dict) -> dict:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    dsn = environment["MARKETPLACE_DATABASE_URL"]
    admin = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    statements = probe(
        {**environment, "LISTING_SEARCH_STATEMENT_TIMEOUT_MS": "0"},
        "search_statement",
        json.dumps(list(TERM_CLASSES.values())),
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        total = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    sizes = [size for size in SIZES if size < total] + [total]
    copies = [size for size in sizes if size < total]
    points = {}
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            for size in copies:
                build_copy(conn, size, conninfo_to_dict(dsn)["user"])
        for size in sizes:
            schema = schema_name(size) if size < total else "public"
            with psycopg.connect(dsn, prepare_threshold=None) as conn:
                conn.execute(f"SET search_path = {schema}, public")
                points[str(size)] = {
                    name: {
                        "matches": conn.execute(statement["matches_sql"]).fetchone()[0],
                        **_explain(conn, _statements_at(statement, size)),
                    }
                    for name, statement in zip(TERM_CLASSES, statements, strict=True)
                }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for size in copies:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema_name(size)} CASCADE")
    return {
        "listings": total,
        "sizes": [int(size) for size in points],
        "derived_by_copy": copies,
        "unreached": [size for size in SIZES if size > total],
        "points": points,
    }
