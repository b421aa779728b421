"""Public marketplace reads with and without a streaming read replica (breederhq/read_replica.py):
the listing search (a different random search each request, and the broad one-word search, both
uncached) and listing detail pages, each served by gunicorn as deployed against a primary alone and
against the same primary with MARKETPLACE_REPLICA_DATABASE_URL naming its hot standby, in
interleaved rounds (each run drained and warmed up first); medians, and the ratio with / without.

Where the pair comes from. The replica tests' harness (tests/replica/pair.py) starts a primary and a
hot standby from the PostgreSQL binaries of the bench server's major version (`initdb`,
`pg_basebackup -R`); the bench's marketplace database is copied into the primary (its schema, and
the data of every table but the transaction, message and cross-database-registry history, which no
public read touches) and the standby has replayed it before anything is measured. Both sides of
every ratio read the same primary, so the ratio is the replica's effect alone. This is done the same
way whether the bench runs on the embedded PostgreSQL or on the servers the environment names: a
server the bench does not own may refuse replication connections (the shared one here has no
`replication` line in pg_hba.conf) and a base backup of it would copy its whole cluster. The tenant
database stays the bench's. The primary and the standby get the bench server's memory and planner
settings (bench/environment.py SERVER_SETTINGS).

On one host the standby shares the CPUs with the primary, the web workers and wrk: what it can show
here is the cost of routing (the lag probe, a second connection per worker) and whether the work
spreads; what a replica on its own host adds in capacity it cannot show (docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from bench.environment import SERVER_SETTINGS, admin_url, log, server_settings
from bench.load import DURATION, ROUNDS, WARMUP, lua, median, wrk_with
from bench.search import vocabulary_file
from bench.servers import Server, drain
from bench.targets import BROAD_SEARCH_PATH

#: Tables whose rows the copy leaves out (no public read touches them; pg_dump patterns).
HISTORY_TABLES = ("marketplace_transactions", "messages*", "message_threads", "cross_db_references")
REPLAY_TIMEOUT_SECONDS = float(os.environ.get("BENCH_REPLICA_REPLAY_SECONDS", "1800"))
#: Listing detail pages the detail load picks from.
DETAIL_PAGES = 2_000


def scenario_replica(environment: dict) -> dict:
    """A failure to set the pair up is reported, not a failed run."""
    import psycopg

    from tests.pg_binaries import find_bindir
    from tests.replica.pair import DATABASE, PostgresPair

    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        major = conn.info.server_version // 10000
    bindir = find_bindir(major)
    if bindir is None:
        return {"error": "no PostgreSQL binaries (initdb, pg_basebackup, ...) found for a replica pair"}
    settings = {name: f"'{value}'" for name, value in server_settings(environment).items() if name != "server_version"}
    # Room for the copy's WAL while the standby catches up (no replication slot), and for the web workers.
    settings |= {"wal_keep_size": "'8GB'", "max_connections": "200"}
    pair = PostgresPair(bindir)
    try:
        log("replica: starting a primary and a standby, copying the marketplace database")
        pair.start(schema_sql=_dump(bindir, environment, "--schema-only"), settings=settings)
        _copy_data(bindir, environment, pair.primary_port)
        pair.psql("VACUUM ANALYZE")
        pair.wait_replayed(timeout=REPLAY_TIMEOUT_SECONDS)
        base = environment["MARKETPLACE_DATABASE_URL"].split("://", 1)[1].split("@", 1)[0]
        primary = f"postgres://{base}@127.0.0.1:{pair.primary_port}/{DATABASE}"
        standby = f"postgres://{base}@127.0.0.1:{pair.standby_port}/{DATABASE}"
        without = {**environment, "MARKETPLACE_DATABASE_URL": primary}
        without.pop("MARKETPLACE_REPLICA_DATABASE_URL", None)
        return {
            "postgres_bin": bindir,
            "settings": {name: settings[name].strip("'") for name in SERVER_SETTINGS if name in settings},
            **_measure(without, {**without, "MARKETPLACE_REPLICA_DATABASE_URL": standby}, pair),
        }
    except Exception as exc:  # noqa: BLE001 - the rest of the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        pair.stop()


def _dump(bindir: str, environment: dict, *options: str) -> str:
    result = subprocess.run(
        [
            f"{bindir}/pg_dump",
            "--no-owner",
            "--no-privileges",
            *options,
            admin_url(environment, "MARKETPLACE_DATABASE_URL"),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"pg_dump failed: {result.stderr[-500:]}")
    return result.stdout


def _copy_data(bindir: str, environment: dict, port: int) -> None:
    """The bench marketplace database's rows (but HISTORY_TABLES') streamed into the pair's primary."""
    excluded = [f"--exclude-table-data={pattern}" for pattern in HISTORY_TABLES]
    dump = subprocess.Popen(
        [
            f"{bindir}/pg_dump",
            "--data-only",
            "--disable-triggers",
            *excluded,
            admin_url(environment, "MARKETPLACE_DATABASE_URL"),
        ],
        stdout=subprocess.PIPE,
    )
    from tests.replica.pair import DATABASE

    restore = subprocess.run(
        [f"{bindir}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        + ["-d", DATABASE],
        stdin=dump.stdout,
        capture_output=True,
        text=True,
    )
    dump.stdout.close()
    if dump.wait() or restore.returncode:
        raise RuntimeError(f"copying the marketplace data failed: {restore.stderr[-500:]}")


def _transactions(port: int) -> int:
    """Transactions committed so far in the pair's marketplace database on that server."""
    import psycopg

    from tests.replica.pair import DATABASE

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=DATABASE, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def _measure(without: dict, with_replica: dict, pair) -> dict:
    import psycopg

    with psycopg.connect(without["MARKETPLACE_DATABASE_URL"]) as conn:
        slugs = [
            row[0]
            for row in conn.execute(
                "SELECT slug FROM service_listings WHERE status = 'active' ORDER BY random() LIMIT %s", [DETAIL_PAGES]
            ).fetchall()
        ]
    vocabulary = vocabulary_file()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"/api/v1/marketplace/listings/{slug}/\n" for slug in slugs))
    paths = handle.name
    loads = {
        "uncached_random": lambda url, duration: wrk_with(
            f"{url}/api/v1/marketplace/listings/",
            ["-s", lua("random_search.lua")],
            ["--", vocabulary],
            duration=duration,
        ),
        "broad": lambda url, duration: wrk_with(
            url + BROAD_SEARCH_PATH, ["-s", lua("distinct_search.lua")], duration=duration
        ),
        "listing_detail": lambda url, duration: wrk_with(
            f"{url}/", ["-s", lua("random_paths.lua")], ["--", paths], duration=duration
        ),
    }
    servers = {"without": Server(without), "with": Server(with_replica)}
    environments = {"without": without, "with": with_replica}
    out: dict = {}
    try:
        for server in servers.values():  # every worker's first requests and both servers' caches
            for load in loads.values():
                load(server.url, max(WARMUP, 1) * 3)
        for name, load in loads.items():
            runs: dict[str, list[dict]] = {"without": [], "with": []}
            standby_transactions = 0
            for _ in range(ROUNDS):
                for side, server in servers.items():
                    drain(environments[side], [server])
                    if WARMUP:
                        load(server.url, WARMUP)
                        drain(environments[side], [server])
                    before = _transactions(pair.standby_port)
                    runs[side].append(load(server.url, DURATION))
                    if side == "with":
                        standby_transactions += _transactions(pair.standby_port) - before
            out[name] = {
                side: {key: median(results, key) for key in ("rps", "p50_ms", "p99_ms")}
                | {"non_2xx": sum(r["non_2xx"] for r in results)}
                for side, results in runs.items()
            }
            without_rps = out[name]["without"]["rps"]
            out[name]["with_vs_without"] = out[name]["with"]["rps"] / without_rps if without_rps else None
            out[name]["standby_transactions"] = standby_transactions
    finally:
        for server in servers.values():
            server.stop()
        Path(vocabulary).unlink()
        Path(paths).unlink()
    return {"loads": out, "rounds": ROUNDS, "duration_seconds": DURATION}
