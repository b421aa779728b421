"""SQL timings, as the application sends its statements: Django's psycopg connection has no
prepared statements (`prepare_threshold` None, Django's default, which config/settings/base.py's
DATABASES OPTIONS keep) and binds parameters on the client (a ClientCursor), so every execution is
parsed and planned again. Timed the same way here, so planning counts: the RLS cost, and the
message pages on the partitioned table against an unpartitioned copy and by cursor against OFFSET."""

from __future__ import annotations

import os
import re
import statistics
import time

from bench.environment import admin_url
from bench.load import interleaved
from bench.probes.run import probe

RLS_ROUNDS = int(os.environ.get("BENCH_RLS_ROUNDS", "9"))


def connect(dsn: str, **options):
    """A connection that sends statements as the application's does: never prepared, parameters
    bound on the client."""
    import psycopg

    return psycopg.connect(dsn, prepare_threshold=None, cursor_factory=psycopg.ClientCursor, **options)


def sql_timer(dsn: str, statements: list[tuple[str, list]], setup: list[str] = (), repeat: int = 200) -> float:
    """Mean seconds per execution of the statements, on one connection (after a warm-up), each
    execution parsed and planned (see the module's docstring)."""
    with connect(dsn, autocommit=False) as conn, conn.cursor() as cursor:
        for statement in setup:
            cursor.execute(statement)
        for sql, params in statements:
            cursor.execute(sql, params)
            cursor.fetchall()
        started = time.perf_counter()
        for _ in range(repeat):
            for sql, params in statements:
                cursor.execute(sql, params)
                cursor.fetchall()
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed / repeat


def scenario_rls_cost(environment: dict) -> dict:
    """The same tenant query as the application role under RLS and as the owner without it:
    RLS_ROUNDS interleaved rounds, each on fresh connections (one per side), median of the rounds."""
    import psycopg

    tenant_dsn = environment["TENANT_DATABASE_URL"]
    admin = admin_url(environment, "TENANT_DATABASE_URL")
    with psycopg.connect(admin) as conn:
        tenant_id = conn.execute("SELECT id FROM tenants WHERE slug = 'bench-7'").fetchone()[0]
    query = [
        (
            "SELECT id, invoice_number, total_cents, status FROM invoices WHERE tenant_id = %s "
            "ORDER BY created_at DESC, id DESC LIMIT 50",
            [tenant_id],
        )
    ]
    on, off = interleaved(
        lambda: sql_timer(
            tenant_dsn, query, setup=[f"SELECT set_config('app.current_tenant_id', '{tenant_id}', true)"], repeat=3000
        ),
        lambda: sql_timer(admin, query, repeat=3000),
        rounds=RLS_ROUNDS,
    )
    ratios = sorted(o / n for n, o in zip(on, off, strict=True))
    return {
        "rls_on_ms": statistics.median(on) * 1000,
        "rls_off_ms": statistics.median(off) * 1000,
        "ratio_on_to_off": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
        "rounds": RLS_ROUNDS,
    }


def message_page_queries(environment: dict, thread: int, depth: int) -> dict:
    """The SQL the API runs for the thread's newest page and for the page `depth` messages deep (by
    its cursor), with literal values, plus the naive OFFSET query (bench/probes/message_queries.py)."""
    return probe(environment, "message_queries", str(thread), str(depth))


def _plan(dsn: str, sql: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}").fetchall())


def _sorts(plan: str) -> bool:
    """A Sort *node* (Merge Append's "Sort Key:" line is fine: it merges presorted inputs)."""
    return bool(re.search(r"(^|->\s+)(Incremental )?Sort\s+\(", plan, re.M))


def scenario_messages_sql(environment: dict, deep_thread: int) -> dict:
    """The message page queries exactly as the API runs them (bounded windows of created_at that
    prune partitions), timed on `messages` and on an unpartitioned copy; and the page 100,000 deep
    by cursor against the naive OFFSET query."""
    dsn = environment["MARKETPLACE_DATABASE_URL"]
    import psycopg

    queries = message_page_queries(environment, deep_thread, 100_000)
    keyset = [(sql, None) for sql in queries["deep"]]
    offset = [(sql, None) for sql in queries["offset"]]
    k, o = interleaved(lambda: sql_timer(dsn, keyset, repeat=2000), lambda: sql_timer(dsn, offset, repeat=20), rounds=5)
    round_trip = sql_timer(dsn, [("SELECT 1", None)], repeat=2000)  # this host's floor for any statement
    plans = [_plan(dsn, sql) for sql in queries["deep"]]
    # The same queries on an unpartitioned copy (same columns, same index), made once.
    # Dropped again afterwards: migrations (as the owner role) re-grant every table and may not touch it.
    admin = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_messages_unpartitioned")
        conn.execute("CREATE TABLE bench_messages_unpartitioned AS SELECT * FROM messages")
        conn.execute(
            "CREATE INDEX ON bench_messages_unpartitioned (thread_id, created_at DESC, id DESC) INCLUDE (read_at)"
        )
        conn.execute("ALTER TABLE bench_messages_unpartitioned ADD PRIMARY KEY (id)")
        conn.execute("VACUUM ANALYZE bench_messages_unpartitioned")
        conn.execute("VACUUM ANALYZE messages")

    def thread_queries(table: str) -> list:
        return [(sql.replace('"messages"', f'"{table}"'), None) for sql in queries["newest"] + queries["deep"]]

    part, flat = interleaved(
        lambda: sql_timer(admin, thread_queries("messages"), repeat=200),
        lambda: sql_timer(admin, thread_queries("bench_messages_unpartitioned"), repeat=200),
        rounds=5,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_messages_unpartitioned")
    partitions = set(re.findall(r"messages_(?:p\d{4}_\d{2}|default)", "\n".join(plans)))
    return {
        "partitioned_ms": statistics.median(part) * 1000,
        "unpartitioned_ms": statistics.median(flat) * 1000,
        "partitioned_vs_unpartitioned": statistics.median(flat) / statistics.median(part),
        "cursor_ms": statistics.median(k) * 1000,
        "offset_ms": statistics.median(o) * 1000,
        "round_trip_ms": round_trip * 1000,
        "cursor_vs_offset": statistics.median(o) / statistics.median(k),
        "page_queries": {name: len(sqls) for name, sqls in queries.items()},
        "cursor_plan_partitions": sorted(partitions),
        "cursor_plan_sorts": any(_sorts(plan) for plan in plans),
    }
