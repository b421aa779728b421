"""The bench's environment: its own databases (one pair per scale), the services, settings for the
servers it starts, and the data set (migrated and generated once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

BASE_DIR = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def bench_databases(scale: str) -> tuple[str, str]:
    """The bench's (tenant, marketplace) database names: one pair per scale, so both data sets
    can be kept side by side."""
    infix = "" if scale == "small" else f"_{scale}"
    return f"breederhq_bench{infix}_tenant", f"breederhq_bench{infix}_marketplace"


def admin_url(environment: dict, variable: str) -> str:
    """The superuser's URL to the database `variable` (TENANT_/MARKETPLACE_DATABASE_URL) names."""
    return environment["DATABASE_ADMIN_URL"].rsplit("/", 1)[0] + "/" + environment[variable].rsplit("/", 1)[1]


def bench_environment(scale: str = "small") -> tuple[dict, list]:
    from config.launcher import service_environment

    environment, services = service_environment()
    for variable, name in zip(("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL"), bench_databases(scale), strict=True):
        environment[variable] = environment[variable].rsplit("/", 1)[0] + f"/{name}"
    environment["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    environment["CELERY_KEY_PREFIX"] = "bench:"
    environment["STRIPE_WEBHOOK_SECRET"] = "whsec_bench_secret"
    # Tokens are minted once, up front (bench/probes/users.py), and must outlive the run.
    environment["JWT_ACCESS_MINUTES"] = "240"
    # The throttles still run (their Redis round trip is part of a request's cost) but at rates a
    # load generator on one address cannot reach: a 429 is not a measurement.
    for scope in ("AUTH_IP", "WRITE_USER", "WRITE_IP", "PUBLIC_READ_IP"):
        environment[f"API_THROTTLE_{scope}"] = "1000000/min"
    # Likewise the search's limit of concurrent searches per client: wrk's connections all come
    # from one address, where real clients would be many.
    environment["LISTING_SEARCH_CONCURRENT_PER_CLIENT"] = "1000"
    return environment, services


def manage(environment: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, check=True)


def tenant_database(environment: dict) -> str:
    return environment["TENANT_DATABASE_URL"].rsplit("/", 1)[1]


def reset_synchronous_commit(environment: dict) -> None:
    """Undo webhook_without_durable_commit's setting (also at the start of every run, in case a
    killed run left it)."""
    import psycopg

    with psycopg.connect(admin_url(environment, "TENANT_DATABASE_URL"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{tenant_database(environment)}" RESET synchronous_commit')


#: The server settings that decide whether the data set is read from memory or not, and how.
SERVER_SETTINGS = (
    "server_version",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_parallel_workers_per_gather",
    "random_page_cost",
    "jit",
)


def server_settings(environment: dict) -> dict:
    import psycopg

    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SERVER_SETTINGS}


def dataset_summary(environment: dict) -> dict:
    """Rows in the tables the scenarios read, and each database's size (after VACUUM)."""
    import psycopg

    out = {}
    for variable, tables in (
        ("TENANT_DATABASE_URL", ("tenants", "contacts", "invoices")),
        ("MARKETPLACE_DATABASE_URL", ("service_listings", "marketplace_transactions", "message_threads", "messages")),
    ):
        with psycopg.connect(admin_url(environment, variable)) as conn:
            out[environment[variable].rsplit("/", 1)[1]] = {
                "bytes": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
                **{table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables},
            }
    return out


def prepare(environment: dict, *, scale: str, fresh: bool = False) -> int:
    """Bench databases migrated and filled (once); returns the id of the deep message thread."""
    import psycopg

    if fresh:
        with psycopg.connect(environment["DATABASE_ADMIN_URL"], autocommit=True) as conn:
            for name in bench_databases(scale):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    manage(environment, "db_bootstrap")
    reset_synchronous_commit(environment)
    manage(environment, "migrate", "--database", TENANT_DB, "--no-input", "-v", "0")
    manage(environment, "migrate", "--database", MARKETPLACE_DB, "--no-input", "-v", "0")
    generated = subprocess.run(
        [sys.executable, "-m", "bench.generate", "--scale", scale],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    if generated.returncode != 0:
        raise SystemExit(f"data generation failed:\n{generated.stderr[-3000:]}")
    summary = generated.stdout.strip().splitlines()[-1]
    log(summary)
    if "skipped" not in summary:
        # Statistics and the visibility map, as a database in service has them (autovacuum): the
        # generator runs as the application role, which may not ANALYZE tables it does not own.
        for variable in ("TENANT_DATABASE_URL", "MARKETPLACE_DATABASE_URL"):
            with psycopg.connect(admin_url(environment, variable), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        log("vacuumed and analyzed")
        manage(environment, "provider_stats_check")  # exit 1 (and no bench) if the counters drifted
        manage(environment, "crossdb_check")  # exit 1 if a link between the databases is unsound
    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        return conn.execute(
            "SELECT thread_id FROM messages GROUP BY thread_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
