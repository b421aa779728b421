"""Marketplace transactions partitioned or not: the provider's and the buyer's transaction list
statements exactly as the application sends them (captured from selectors.transaction_page by
bench/probes/transaction_queries.py; unprepared, parameters bound on the client, so planning is in
every figure: bench/sql_timings.py), the newest page and a page by a cursor two thirds into that
history, timed on `marketplace_transactions` (unpartitioned, as deployed) and on copies partitioned
by created_at RANGE as `messages` is (marketplace_app/partitions.py): one partition per month (as
messages) and one per year. The copies get the table's own indexes (the primary key with
created_at, as a partitioned table requires) and are dropped again afterwards.

The lists filter by owner, not by time, so the newest page cannot prune partitions: the plan is a
Merge Append over one index scan per partition; a cursor page prunes only the partitions newer than
its position."""

from __future__ import annotations

import os
import re
import statistics

from bench.environment import admin_url
from bench.probes.run import probe
from bench.sql_timings import _plan, _sorts, sql_timer

#: The partitioned copies: name -> months per partition.
LAYOUTS = {"monthly": 1, "yearly": 12}
ROUNDS = int(os.environ.get("BENCH_TX_SQL_ROUNDS", "5"))
REPEAT = int(os.environ.get("BENCH_TX_SQL_REPEAT", "100"))
TABLE = "marketplace_transactions"
#: What the partitioned side must keep: the partitioned-vs-unpartitioned floor the message pages
#: have (bench/report.py).
TARGET = 0.8


def copy_name(layout: str) -> str:
    return f"bench_tx_{layout}"


def build_partitioned_copy(conn, layout: str, months: int) -> int:
    """A RANGE-partitioned copy of marketplace_transactions (partitions of `months` months in UTC
    from the oldest row's month, and a default one), with the table's indexes; returns how many
    partitions hold rows."""
    from psycopg import sql

    name = copy_name(layout)
    conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
    conn.execute(
        f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
    )
    conn.execute("SET TIME ZONE 'UTC'")
    first, last = conn.execute(f"SELECT date_trunc('month', min(created_at)), max(created_at) FROM {TABLE}").fetchone()
    bounds = [
        row[0]
        for row in conn.execute(
            "SELECT generate_series(%s::timestamptz, %s::timestamptz + make_interval(months => %s),"
            " make_interval(months => %s))",
            [first, last, months, months],
        ).fetchall()
    ]
    for start, stop in zip(bounds, bounds[1:], strict=False):
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"{name}_p{start:%Y_%m}"), sql.Identifier(name), sql.Literal(start), sql.Literal(stop)
            )
        )
    conn.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")
    conn.execute(f"INSERT INTO {name} SELECT * FROM {TABLE}")
    for (definition,) in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s", [TABLE]
    ).fetchall():
        # Each index as deployed, on the copy (named after it); a unique one includes the partition key.
        definition = definition.replace(f" ON public.{TABLE} ", f" ON public.{name} ")
        definition = re.sub(r"INDEX (\w+) ON", lambda m: f"INDEX {name}_{m.group(1)[:40]} ON", definition)
        if definition.startswith("CREATE UNIQUE INDEX"):
            definition = re.sub(r"\(([^)]*)\)$", r"(\1, created_at)", definition)
        conn.execute(definition)
    conn.execute(f"VACUUM ANALYZE {name}")
    return conn.execute(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass AND c.reltuples > 0",
        [name],
    ).fetchone()[0]


def scenario_transactions_sql(environment: dict) -> dict:
    import psycopg

    admin = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    with psycopg.connect(admin) as conn:
        # The bench provider (provider 0 sells a quarter of everything: the longest history) and a buyer.
        provider_id = conn.execute(
            f"SELECT provider_id FROM {TABLE} GROUP BY provider_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        client_id = conn.execute(f"SELECT client_id FROM {TABLE} ORDER BY id LIMIT 1").fetchone()[0]
    queries = probe(environment, "transaction_queries", str(provider_id), str(client_id))
    partitions = {}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        for layout, months in LAYOUTS.items():
            partitions[layout] = build_partitioned_copy(conn, layout, months)
    try:
        return {
            "provider_id": provider_id,
            "client_id": client_id,
            "partitions": partitions,
            "rounds": ROUNDS,
            "statements": {name: _compare(admin, query) for name, query in queries.items()},
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for layout in LAYOUTS:
                conn.execute(f"DROP TABLE IF EXISTS {copy_name(layout)} CASCADE")


def _on(sql: str, table: str) -> str:
    return sql.replace(f"FROM {TABLE} t ", f"FROM {table} t ")


def _compare(admin: str, query: dict) -> dict:
    """One statement on the table as deployed and on each partitioned copy, interleaved in ROUNDS
    rounds; medians, each copy's ratio (unpartitioned time / partitioned time: above 1 the copy is
    faster), where the copy's time goes (EXPLAIN ANALYZE) and how many partitions its plan reads."""
    tables = {"unpartitioned": TABLE, **{layout: copy_name(layout) for layout in LAYOUTS}}
    times: dict[str, list[float]] = {name: [] for name in tables}
    for _ in range(ROUNDS):
        for name, table in tables.items():
            statements = [(_on(sql, table), None) for sql in query["sql"]]
            times[name].append(sql_timer(admin, statements, repeat=REPEAT))
    out = {"history_rows": query["history"], "depth_rows": query["depth"]}
    flat = statistics.median(times["unpartitioned"])
    for name, table in tables.items():
        sql = _on(query["sql"][0], table)
        plan = _plan(admin, sql)
        analyzed = _analyze(admin, sql)
        out[name] = {
            "ms": statistics.median(times[name]) * 1000,
            "planning_ms": analyzed["Planning Time"],
            "execution_ms": analyzed["Execution Time"],
            "partitions_read": len(set(re.findall(rf"{table}_(?:p\d{{4}}_\d{{2}}|default)\b", plan))),
            "sorts": _sorts(plan),
        }
        if name != "unpartitioned":
            out[name]["ratio"] = flat / statistics.median(times[name])
    return out


def _analyze(dsn: str, sql: str) -> dict:
    """Median planning and execution time of 5 EXPLAIN ANALYZE runs (after one discarded)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        runs = [conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0][0] for _ in range(6)][1:]
    return {key: statistics.median(run[key] for run in runs) for key in ("Planning Time", "Execution Time")}
