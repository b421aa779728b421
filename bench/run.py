"""The benchmark suite: `make bench` (or `python -m bench.run --scale small`).

Runs on the embedded default or on the servers in the environment, in separate databases
(`breederhq_bench_tenant`, `breederhq_bench_marketplace`; `breederhq_bench_full_*` for `--scale full`,
so both data sets can be kept), generates the data set once, serves the
platform with gunicorn as deployed (`config/gunicorn.py`: 3 sync workers unless WEB_CONCURRENCY says otherwise;
a worker table compares 2, 5 and gthread), and reports every figure as
a ratio against a baseline measured in the same run, interleaved (A B A B), median of the runs.
Writes bench/reports/latest.md and latest.json (`--scale full`: full.md and full.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.faults import fault_rows, scenario_redis_down

BASE_DIR = Path(__file__).resolve().parent.parent
REPORTS = BASE_DIR / "bench" / "reports"
DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RLS_ROUNDS = int(os.environ.get("BENCH_RLS_ROUNDS", "9"))


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- environment ------------------------------------------------------------------------------------


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
    # The throttles still run (their Redis round trip is part of a request's cost) but at rates a
    # load generator on one address cannot reach: a 429 is not a measurement.
    for scope in ("AUTH_IP", "WRITE_USER", "WRITE_IP", "PUBLIC_READ_IP"):
        environment[f"API_THROTTLE_{scope}"] = "1000000/min"
    return environment, services


def manage(environment: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployed_workers(environment: dict) -> int:
    """The sync workers config/gunicorn.py starts in this environment (its own reading of WEB_CONCURRENCY)."""
    code = "import config.gunicorn as g; print(g.workers)"
    return int(subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, check=True,
                              capture_output=True, text=True).stdout)


def deployed_label(environment: dict) -> str:
    return f"{deployed_workers(environment)} sync workers (config/gunicorn.py, as deployed)"


def gunicorn_choices(environment: dict) -> dict[str, list[str]]:
    """What a 2-core host could run, each on top of the deployed config (options on the command line
    override the file's); the main figures use the deployed one. (scenario_gunicorn compares them.)"""
    choices = {deployed_label(environment): []}
    for workers in (2, 3):
        if workers != deployed_workers(environment):
            choices[f"{workers} sync workers"] = ["--workers", str(workers)]
    choices["5 sync workers (2 x cores + 1)"] = ["--workers", "5"]
    choices["2 gthread workers x 4 threads"] = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    return choices


class Server:
    """gunicorn serving the platform with the deployed settings (`-c python:config.gunicorn`), plus
    any options that override them."""

    def __init__(self, environment: dict, options: list[str] = ()):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", *options, "--bind",
             f"127.0.0.1:{self.port}", "--log-level", "warning"],
            cwd=BASE_DIR, env=environment, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


# --- measuring --------------------------------------------------------------------------------------


def wrk(url: str, *, script: str | None = None, script_args: list[str] | None = None) -> dict:
    """wrk on loopback: one thread (a Lua script's state is per thread), CONNECTIONS connections."""
    if script:
        return wrk_with(url, ["-s", script], trailing=["--", *(script_args or [])])
    return wrk_with(url, [])


def interleaved(a, b, rounds: int = ROUNDS) -> tuple[list, list]:
    results_a, results_b = [], []
    for _ in range(rounds):
        results_a.append(a())
        results_b.append(b())
    return results_a, results_b


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def sql_timer(dsn: str, statements: list[tuple[str, list]], setup: list[str] = (), repeat: int = 200) -> float:
    """Mean seconds per execution of the statements, on one connection (after a warm-up)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cursor:
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


# --- scenarios --------------------------------------------------------------------------------------


def scenario_calibration(environment: dict, server: Server) -> dict:
    from breederhq.backup import pg_tool

    admin = environment["DATABASE_ADMIN_URL"]
    pgbench = pg_tool("pgbench", 15)
    import psycopg

    # pgbench gets its own database: its tables have no place in the platform's.
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'breederhq_bench_pgbench'").fetchone():
            conn.execute("CREATE DATABASE breederhq_bench_pgbench")
    bench_db_admin = admin.rsplit("/", 1)[0] + "/breederhq_bench_pgbench"
    subprocess.run([pgbench, "-i", "-q", "-s", "5", bench_db_admin], check=True, capture_output=True)
    out = subprocess.run([pgbench, "-S", "-c", "8", "-j", "2", "-T", str(DURATION), bench_db_admin],
                         check=True, capture_output=True, text=True).stdout
    pg_tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    baseline = [wrk(f"{server.url}/bench/baseline?id=1") for _ in range(ROUNDS)]
    return {"pgbench_select_tps": pg_tps, "baseline_rps": median(baseline, "rps"),
            "baseline_p99_ms": median(baseline, "p99_ms"),
            "baseline_share_of_pgbench": median(baseline, "rps") / pg_tps}


def webhook_delivery_files(environment: dict, count: int, run: int, per_file: int = 15_000) -> list[str]:
    """Files of signed deliveries for bench/webhook.lua, one per wrk run (wrk starts each run at the
    first line): every file has events of its own, 10 % of them a repeat of the one before. Ids
    carry `run` (unique to this bench run: the inbox keeps earlier runs' events). Signed now, so
    they must be sent within the SDK's 300 s tolerance."""
    import stripe

    sys.path.insert(0, str(BASE_DIR))
    from tests.fakes.stripe_server import stripe_event

    files = []
    for r in range(count):
        events = [stripe_event("account.updated", {"id": f"acct_bench_{i % 500}", "object": "account",
                                                   "charges_enabled": True, "payouts_enabled": True,
                                                   "details_submitted": True, "requirements": {},
                                                   "filler": "x" * 2000},
                               event_id=f"evt_bench_{run}_{r}_{i}")
                  for i in range(per_file)]
        lines = []
        for i, event in enumerate(events):
            chosen = events[i - 1] if i % 10 == 9 else event  # 10 % duplicates
            body = json.dumps(chosen, separators=(",", ":"))
            header = stripe.WebhookSignature.generate_signature_header(body, environment["STRIPE_WEBHOOK_SECRET"])
            lines.append(f"{header}\t{body}")
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
            handle.write("\n".join(lines))
        files.append(handle.name)
    return files


def wrk_webhook(server: "Server", deliveries: str) -> dict:
    return wrk(f"{server.url}/api/v1/payments/stripe/webhook", script=str(BASE_DIR / "bench" / "webhook.lua"),
               script_args=[deliveries])


def scenario_webhooks(environment: dict, server: Server) -> dict:
    run = time.time_ns()
    files = webhook_delivery_files(environment, ROUNDS, run)
    after_id = inbox_last_id(environment)  # this run's events come after it (the poll reads by id, not LIKE)
    # The queue starts empty (earlier runs' messages would be worked off with this run's).
    subprocess.run([sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", "webhooks"], cwd=BASE_DIR,
                   env=environment, check=True, capture_output=True)
    rounds = iter(files)
    webhook, baseline = interleaved(
        lambda: wrk_webhook(server, next(rounds)),
        lambda: wrk(f"{server.url}/bench/baseline?id=1"),
    )
    for name in files:
        os.unlink(name)
    import psycopg

    with psycopg.connect(environment["TENANT_DATABASE_URL"]) as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT stripe_event_id) FROM stripe_webhook_events").fetchone()
    rps = median(webhook, "rps")
    return {"rps": rps, "p99_ms": median(webhook, "p99_ms"), "ratio_to_baseline": rps / median(baseline, "rps"),
            "non_2xx": sum(r["non_2xx"] for r in webhook), "inbox_rows": stored,
            "duplicate_inbox_rows": stored - distinct,
            **webhook_processing(environment, f"evt_bench_{run}_", after_id),
            "without_durable_commit": webhook_without_durable_commit(environment)}


def webhook_without_durable_commit(environment: dict) -> dict:
    """Where ingestion's time goes: the same deliveries, interleaved with the baseline, with the
    bench database's commits acknowledged before their WAL reaches the disk (`synchronous_commit =
    off`, a fresh server so every connection has it). Not an option for the inbox, whose 200 tells
    Stripe the event is safe; measured only to show the share the durable commit takes, during
    which a sync worker's CPU idles."""
    import psycopg

    admin = admin_url(environment, "TENANT_DATABASE_URL")
    after_id = inbox_last_id(environment)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{tenant_database(environment)}" SET synchronous_commit = off')
    server, files = None, []
    try:
        server = Server(environment)
        wrk(f"{server.url}/bench/baseline?id=1")  # warm every worker's connections and imports first
        # Signed just before use (the SDK's 300 s tolerance), one file per round.
        files = webhook_delivery_files(environment, ROUNDS, time.time_ns(), per_file=12_000)
        deliveries = iter(files)
        webhook, baseline = interleaved(lambda: wrk_webhook(server, next(deliveries)),
                                        lambda: wrk(f"{server.url}/bench/baseline?id=1"))
    finally:
        if server:
            server.stop()
        reset_synchronous_commit(environment)
        for name in files:
            os.unlink(name)
        discard_bench_events(environment, after_id)
    return {"rps": median(webhook, "rps"), "p99_ms": median(webhook, "p99_ms"),
            "ratio_to_baseline": median(webhook, "rps") / median(baseline, "rps"),
            "non_2xx": sum(r["non_2xx"] for r in webhook)}


def tenant_database(environment: dict) -> str:
    return environment["TENANT_DATABASE_URL"].rsplit("/", 1)[1]


def reset_synchronous_commit(environment: dict) -> None:
    """Undo webhook_without_durable_commit's setting (also at the start of every run, in case a
    killed run left it)."""
    import psycopg

    with psycopg.connect(admin_url(environment, "TENANT_DATABASE_URL"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{tenant_database(environment)}" RESET synchronous_commit')


def inbox_last_id(environment: dict) -> int:
    import psycopg

    with psycopg.connect(environment["TENANT_DATABASE_URL"]) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM stripe_webhook_events").fetchone()[0]


def discard_bench_events(environment: dict, after_id: int) -> None:
    """Measurement-only deliveries (the worker table, the diagnostic) leave the inbox and the queue
    again: nobody processes them, and the inbox would otherwise grow by every run's."""
    import psycopg

    with psycopg.connect(admin_url(environment, "TENANT_DATABASE_URL"), autocommit=True) as conn:
        conn.execute("DELETE FROM stripe_webhook_events WHERE id > %s AND stripe_event_id LIKE 'evt\\_bench\\_%%'",
                     [after_id])
    subprocess.run([sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", "webhooks"], cwd=BASE_DIR,
                   env=environment, check=True, capture_output=True)


def webhook_processing(environment: dict, prefix: str, after_id: int) -> dict:
    """A real Celery worker (2 processes, the webhooks queue) works off what ingestion enqueued:
    events per second until every one of this run's events is in a final state, and how many had
    their handling committed more than once (must be none). `attempts_counted_twice`: events a
    second worker took between the first one's attempt count and its handler (it then found the
    event done and changed nothing, but the attempt stays counted)."""
    import psycopg

    dsn = environment["TENANT_DATABASE_URL"]
    admin = admin_url(environment, "TENANT_DATABASE_URL")
    # Bench only, dropped again below: a trigger notes every commit of an event's handling (status to
    # done with a new processed_at; the handler's effect commits in the same transaction). An event
    # noted twice had its effect applied twice.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_event_effects (stripe_event_id text NOT NULL)")
        conn.execute("TRUNCATE bench_event_effects")
        conn.execute("""
            CREATE OR REPLACE FUNCTION bench_note_event_effect() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                INSERT INTO bench_event_effects VALUES (NEW.stripe_event_id);
                RETURN NEW;
            END $$""")
        conn.execute("DROP TRIGGER IF EXISTS bench_event_effect ON stripe_webhook_events")
        conn.execute("""
            CREATE TRIGGER bench_event_effect AFTER UPDATE ON stripe_webhook_events FOR EACH ROW
            WHEN (NEW.status IN ('succeeded', 'ignored') AND NEW.processed_at IS DISTINCT FROM OLD.processed_at)
            EXECUTE FUNCTION bench_note_event_effect()""")
    pending = ("SELECT count(*) FILTER (WHERE status IN ('received', 'failed')), count(*) "
               "FROM stripe_webhook_events WHERE id > %s AND stripe_event_id LIKE %s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        waiting, total = conn.execute(pending, [after_id, prefix + "%"]).fetchone()
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "2",
             "-Q", "webhooks", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=BASE_DIR, env=environment, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = first = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                left = conn.execute(pending, [after_id, prefix + "%"]).fetchone()[0]
                if left < waiting and started is None:
                    started = first = time.monotonic()  # the worker is up and taking events
                if left == 0:
                    break
                time.sleep(0.2)
            finished = time.monotonic()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        left = conn.execute(pending, [after_id, prefix + "%"]).fetchone()[0]
        attempts_twice = conn.execute("SELECT count(*) FROM stripe_webhook_events WHERE id > %s "
                                      "AND stripe_event_id LIKE %s AND attempts > 1", [after_id, prefix + "%"]).fetchone()[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        effects, distinct = conn.execute("SELECT count(*), count(DISTINCT stripe_event_id) FROM bench_event_effects "
                                         "WHERE stripe_event_id LIKE %s", [prefix + "%"]).fetchone()
        conn.execute("DROP TRIGGER bench_event_effect ON stripe_webhook_events")
        conn.execute("DROP FUNCTION bench_note_event_effect()")
        conn.execute("DROP TABLE bench_event_effects")
    elapsed = (finished - first) if first else None
    return {"processed_events": total - left, "left_unprocessed": left,
            "processing_per_second": (waiting / elapsed) if elapsed else None,
            "events_handled": effects, "duplicate_effects": effects - distinct,
            "attempts_counted_twice": attempts_twice}


def scenario_rls_cost(environment: dict) -> dict:
    """The same tenant query as the application role under RLS and as the owner without it:
    RLS_ROUNDS interleaved rounds, each on fresh connections (one per side), median of the rounds."""
    import psycopg

    tenant_dsn = environment["TENANT_DATABASE_URL"]
    admin = admin_url(environment, "TENANT_DATABASE_URL")
    with psycopg.connect(admin) as conn:
        tenant_id = conn.execute("SELECT id FROM tenants WHERE slug = 'bench-7'").fetchone()[0]
    query = [("SELECT id, invoice_number, total_cents, status FROM invoices WHERE tenant_id = %s "
              "ORDER BY created_at DESC, id DESC LIMIT 50", [tenant_id])]
    on, off = interleaved(
        lambda: sql_timer(tenant_dsn, query, setup=[f"SELECT set_config('app.current_tenant_id', '{tenant_id}', true)"],
                          repeat=3000),
        lambda: sql_timer(admin, query, repeat=3000),
        rounds=RLS_ROUNDS,
    )
    ratios = sorted(o / n for n, o in zip(on, off))
    return {"rls_on_ms": statistics.median(on) * 1000, "rls_off_ms": statistics.median(off) * 1000,
            "ratio_on_to_off": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1],
            "rounds": RLS_ROUNDS}


def message_page_queries(environment: dict, thread: int, depth: int) -> dict:
    """The SQL the API runs for the thread's newest page and for the page `depth` messages deep (by
    its cursor), captured from `selectors.message_page` with literal values, plus the naive OFFSET
    query over the same columns."""
    code = r'''
import json, sys, django
django.setup()
from django.db import connections
from django.test.utils import CaptureQueriesContext
from marketplace_app import selectors
from marketplace_app.api.serializers import MESSAGE_VALUES
from marketplace_app.models import MessageThread
thread, depth = int(sys.argv[1]), int(sys.argv[2])
created_at, last = MessageThread.objects.using("marketplace").values_list("created_at", "last_message_at").get(pk=thread)
span = selectors.ThreadSpan(created_at, last)
row = (selectors.message_page_queryset_unbounded(thread_id=thread).values_list("created_at", "id")[depth - 1:depth].get())
out = {}
for name, before in (("newest", None), ("deep", row)):
    with CaptureQueriesContext(connections["marketplace"]) as captured:
        selectors.message_page(thread_id=thread, span=span, before=before, limit=51, values=MESSAGE_VALUES)
    out[name] = [q["sql"] for q in captured]
offset = selectors.message_page_queryset_unbounded(thread_id=thread).values(*MESSAGE_VALUES)[depth:depth + 51]
with CaptureQueriesContext(connections["marketplace"]) as captured:
    list(offset)
out["offset"] = [q["sql"] for q in captured]
print(json.dumps(out))
'''
    result = subprocess.run([sys.executable, "-c", code, str(thread), str(depth)], cwd=BASE_DIR, env=environment,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    k, o = interleaved(lambda: sql_timer(dsn, keyset, repeat=2000), lambda: sql_timer(dsn, offset, repeat=20),
                       rounds=5)
    round_trip = sql_timer(dsn, [("SELECT 1", None)], repeat=2000)  # this host's floor for any statement
    plans = [_plan(dsn, sql) for sql in queries["deep"]]
    # The same queries on an unpartitioned copy (same columns, same index), made once.
    # Dropped again afterwards: migrations (as the owner role) re-grant every table and may not touch it.
    admin = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_messages_unpartitioned")
        conn.execute("CREATE TABLE bench_messages_unpartitioned AS SELECT * FROM messages")
        conn.execute("CREATE INDEX ON bench_messages_unpartitioned (thread_id, created_at DESC, id DESC) "
                     "INCLUDE (read_at)")
        conn.execute("ALTER TABLE bench_messages_unpartitioned ADD PRIMARY KEY (id)")
        conn.execute("VACUUM ANALYZE bench_messages_unpartitioned")
        conn.execute("VACUUM ANALYZE messages")

    def thread_queries(table: str) -> list:
        return [(sql.replace('"messages"', f'"{table}"'), None) for sql in queries["newest"] + queries["deep"]]

    part, flat = interleaved(lambda: sql_timer(admin, thread_queries("messages"), repeat=200),
                             lambda: sql_timer(admin, thread_queries("bench_messages_unpartitioned"), repeat=200),
                             rounds=5)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_messages_unpartitioned")
    partitions = set(re.findall(r"messages_(?:p\d{4}_\d{2}|default)", "\n".join(plans)))
    return {"partitioned_ms": statistics.median(part) * 1000, "unpartitioned_ms": statistics.median(flat) * 1000,
            "partitioned_vs_unpartitioned": statistics.median(flat) / statistics.median(part),
            "cursor_ms": statistics.median(k) * 1000, "offset_ms": statistics.median(o) * 1000,
            "round_trip_ms": round_trip * 1000,
            "cursor_vs_offset": statistics.median(o) / statistics.median(k),
            "page_queries": {name: len(sqls) for name, sqls in queries.items()},
            "cursor_plan_partitions": sorted(partitions),
            "cursor_plan_sorts": any(_sorts(plan) for plan in plans)}


def scenario_crossdb_resolution(environment: dict) -> dict:
    """Resolving tenant invoices for a page of transactions: batched resolve() vs one query per row,
    in-process (the API list arrives with the API issue)."""
    code = r'''
import json, statistics, time, django
django.setup()
from django.db import connections, reset_queries
from django.test.utils import CaptureQueriesContext
from breederhq.crossdb import resolve
from breederhq.tenancy import system_read_context
from marketplace_app.models import MarketplaceTransaction
from tenant_app.models import Invoice
out = {}
for size in (20, 100):
    rows = list(MarketplaceTransaction.objects.using("marketplace").filter(invoice_type="tenant").order_by("-id")[:size])
    def batched():
        with system_read_context(job="bench"):
            return resolve(rows, "invoice_id")
    def naive():
        with system_read_context(job="bench"):
            return [Invoice.all_objects.filter(pk=r.invoice_id).first() for r in rows]
    with CaptureQueriesContext(connections["default"]) as q:
        batched()
    batched_queries = len(q.captured_queries)
    # Of those, the ones resolve() sent; the rest are the audited system-read context's (the audit
    # row, its transaction, set_config on and off).
    resolve_queries = sum(1 for c in q.captured_queries if 'FROM "invoices"' in c["sql"])
    with CaptureQueriesContext(connections["default"]) as q:
        naive()
    naive_queries = len(q.captured_queries)
    b, n = [], []
    for _ in range(5):
        t = time.perf_counter(); [batched() for _ in range(20)]; b.append((time.perf_counter() - t) / 20)
        t = time.perf_counter(); [naive() for _ in range(20)]; n.append((time.perf_counter() - t) / 20)
    out[size] = {"batched_ms": statistics.median(b) * 1000, "naive_ms": statistics.median(n) * 1000,
                 "speedup": statistics.median(n) / statistics.median(b),
                 "tenant_db_queries_batched": batched_queries, "tenant_db_queries_naive": naive_queries,
                 "tenant_db_queries_resolve": resolve_queries}
print(json.dumps(out))
'''
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def scenario_crossdb_api(environment: dict, server: Server, logins: dict) -> dict:
    """The API's cross-database list, the contacts of tenant bench-7 with the linked marketplace
    person's name (every other contact is linked), against the same list reading each person by its
    own query (bench/urls.py `ContactListPerRow`), at page sizes 20 and 100: queries per request on
    each database (Django test client, in process), and req/s over HTTP, interleaved."""
    code = r'''
import json, sys, django
django.setup()
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
logins = json.loads(sys.argv[1])
client = Client(HTTP_HOST="localhost")
access = client.post("/api/v1/auth/token/", {"email": logins["owner"], "password": logins["password"]},
                     content_type="application/json").json()["access"]
out = {}
for variant, path in (("batched", "/api/v1/contacts/"), ("per_row", "/bench/contacts-per-row")):
    for size in (20, 100):
        client.get(f"{path}?page_size={size}", HTTP_AUTHORIZATION=f"Bearer {access}")
        with CaptureQueriesContext(connections["default"]) as t, CaptureQueriesContext(connections["marketplace"]) as m:
            response = client.get(f"{path}?page_size={size}", HTTP_AUTHORIZATION=f"Bearer {access}")
        assert response.status_code == 200, (path, response.status_code)
        rows = response.json()["results"]
        out[f"{variant}_{size}"] = {"tenant_db": len(t), "marketplace_db": len(m), "rows": len(rows),
                                    "linked": sum(1 for r in rows if r["marketplace_user"]),
                                    "named": sum(1 for r in rows if (r["marketplace_user"] or {}).get("display_name"))}
print(json.dumps(out))
'''
    result = subprocess.run([sys.executable, "-c", code, json.dumps(logins)], cwd=BASE_DIR, env=environment,
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1][:300]}
    out = {"queries": json.loads(result.stdout.strip().splitlines()[-1])}
    headers = ["-H", f"Authorization: Bearer {token(server, logins['owner'], logins['password'])}"]
    for size in (20, 100):
        batched, per_row = interleaved(lambda: wrk_with(f"{server.url}/api/v1/contacts/?page_size={size}", headers),
                                       lambda: wrk_with(f"{server.url}/bench/contacts-per-row?page_size={size}", headers))
        out[str(size)] = {"batched_rps": median(batched, "rps"), "per_row_rps": median(per_row, "rps"),
                          "batched_p99_ms": median(batched, "p99_ms"), "per_row_p99_ms": median(per_row, "p99_ms"),
                          "speedup": median(batched, "rps") / median(per_row, "rps"),
                          "non_2xx": sum(r["non_2xx"] for r in batched + per_row)}
    return out


def token(server: Server, email: str, password: str) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/api/v1/auth/token/", data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access"]


def scenario_api(environment: dict, server: Server, logins: dict) -> dict:
    """The API lists over HTTP, each against the baseline view in the same interleaved run."""
    provider = token(server, logins["provider"], logins["password"])
    owner = token(server, logins["owner"], logins["password"])
    search = f"{server.url}/api/v1/marketplace/listings/?q=grooming%20puppy&state=TX"
    targets = {
        # The same search again and again (a popular one): answered by the search cache.
        "listing_search": (search, None),
        # Every request a different search (bench/distinct_search.lua): each reads the database.
        "listing_search_uncached": (search, None),
        "transactions_first_page": (f"{server.url}/api/v1/marketplace/transactions/?as=provider", provider),
        "messages_newest_page": (f"{server.url}/api/v1/marketplace/threads/{logins['deep_thread_id']}/messages/", provider),
        "contacts_with_marketplace_names": (f"{server.url}/api/v1/contacts/", owner),
    }
    results = {}
    for name, (url, bearer) in targets.items():
        headers = ["-H", f"Authorization: Bearer {bearer}"] if bearer else []
        if name == "listing_search_uncached":
            headers += ["-s", str(BASE_DIR / "bench" / "distinct_search.lua")]
        measured, baseline = interleaved(lambda: wrk_with(url, headers), lambda: wrk(f"{server.url}/bench/baseline?id=1"))
        results[name] = {"rps": median(measured, "rps"), "p50_ms": median(measured, "p50_ms"),
                         "p95_ms": median(measured, "p95_ms"), "p99_ms": median(measured, "p99_ms"),
                         "ratio_to_baseline": median(measured, "rps") / median(baseline, "rps"),
                         "non_2xx": sum(r["non_2xx"] for r in measured)}
    # How much the search ranks and counts per request: its own `count` (every match).
    import urllib.request

    with urllib.request.urlopen(search, timeout=30) as response:
        results["listing_search"]["matches"] = results["listing_search_uncached"]["matches"] = (
            json.loads(response.read())["count"])
    return results


#: The search the API scenarios send (`q=grooming puppy&state=TX`), as the selector's arguments.
SEARCH_ARGUMENTS = {"query": "grooming puppy", "state": "TX"}


def search_statement(environment: dict) -> str:
    """The statement `ListingSearch.page` runs for the bench's search (first page), with literal
    values, captured from the selector."""
    code = r"""
import json, sys, django
django.setup()
from django.db import connections
from django.test.utils import CaptureQueriesContext
from marketplace_app import selectors
with CaptureQueriesContext(connections["marketplace"]) as captured:
    selectors.listing_search(**json.loads(sys.argv[1])).page(offset=0, limit=25)
print(json.dumps(captured[0]["sql"]))
"""
    # With no statement timeout the selector sends the statement alone (not after a SET LOCAL).
    result = subprocess.run([sys.executable, "-c", code, json.dumps(SEARCH_ARGUMENTS)], cwd=BASE_DIR,
                            env={**environment, "LISTING_SEARCH_STATEMENT_TIMEOUT_MS": "0"},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def scenario_search_plan(environment: dict) -> dict:
    """Where an uncached search's time goes inside PostgreSQL: EXPLAIN ANALYZE of the statement the
    API runs for the bench's search (the median of 5 runs after a warm-up, as the application role;
    the uncached HTTP requests add a price bound above every price, which keeps the same matches),
    split three ways: the GIN index scan (intersecting the posting lists of the query's lexemes and
    facet into a bitmap), the bitmap heap scan above it (reading the candidates' heap pages to keep
    those that match the other filters), and the rest (ranking each, counting, sorting); with the
    heap pages found in shared_buffers and read from the OS, and how many listings each term's
    posting list holds. A plan of another shape is reported as an error, not a failed run."""
    try:
        return _search_plan(environment)
    except Exception as exc:  # noqa: BLE001 - a diagnostic: the rest of the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _search_plan(environment: dict) -> dict:
    import psycopg

    sql = search_statement(environment)
    runs = []
    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        for attempt in range(6):
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").fetchone()[0][0]
            if attempt:
                runs.append(plan)
        nodes = [list(_plan_nodes(plan["Plan"])) for plan in runs]
        index_scans = [next(n for n in ns if n["Node Type"] == "Bitmap Index Scan") for ns in nodes]
        heap_scans = [next(n for n in ns if n["Node Type"] == "Bitmap Heap Scan") for ns in nodes]
        # The plan's own index condition: "(<indexed expression> @@ '<tsquery>'::tsquery)".
        expression, tsquery = re.fullmatch(r"\((.*) @@ '((?:[^']|'')*)'::tsquery\)",
                                           index_scans[0]["Index Cond"], re.S).groups()
        postings = {
            lexeme: conn.execute(f"SELECT count(*) FROM service_listings WHERE {expression} @@ %s::tsquery",
                                 ["'" + lexeme.replace("'", "''") + "'"]).fetchone()[0]
            for lexeme in re.findall(r"'([^']*)'", tsquery.replace("''", "'"))
        }
    index = statistics.median(n["Actual Total Time"] for n in index_scans)
    # A node's buffer counts include its children's: the heap scan's own are its minus the index's.
    heap, its_index = heap_scans[-1], index_scans[-1]
    return {
        "execution_ms": statistics.median(p["Execution Time"] for p in runs),
        "planning_ms": statistics.median(p["Planning Time"] for p in runs),
        "index_scan_ms": index,
        "heap_scan_ms": statistics.median(n["Actual Total Time"] for n in heap_scans) - index,
        "candidates": index_scans[0]["Actual Rows"],
        "heap_blocks": heap_scans[0].get("Exact Heap Blocks", 0) + heap_scans[0].get("Lossy Heap Blocks", 0),
        "heap_blocks_in_shared_buffers": heap["Shared Hit Blocks"] - its_index["Shared Hit Blocks"],
        "heap_blocks_read": heap["Shared Read Blocks"] - its_index["Shared Read Blocks"],
        "matches": heap_scans[0]["Actual Rows"],
        "postings": postings,
        "after_writes": _search_after_listing_writes(environment, sql),
        "rum": _search_with_rum(environment, sql, expression, tsquery),
    }


#: Listing writes made (and rolled back) before the search is timed again.
LISTING_WRITES = 2_000


def _search_after_listing_writes(environment: dict, sql: str) -> dict:
    """The search's execution time after LISTING_WRITES listing edits, with the search index as
    deployed (no `fastupdate`, migration 0009) and with PostgreSQL's default (`fastupdate` on: the
    writes' index entries wait in a pending list that every search scans); and each edit's time.
    Each run is one transaction as the tables' owner, rolled back (the index option with it); the
    table is vacuumed after each, which also empties what the default left in the pending list."""
    import psycopg

    owner = admin_url(environment, "MARKETPLACE_DATABASE_URL")
    out = {"writes": LISTING_WRITES}
    with psycopg.connect(owner) as conn:
        for name, fastupdate in (("deployed", "off"), ("fastupdate", "on")):
            conn.execute(f"ALTER INDEX listings_search_document_gin SET (fastupdate = {fastupdate})")
            started = time.perf_counter()
            conn.execute("UPDATE service_listings SET title = title || ' (edited)'"
                         " WHERE id IN (SELECT id FROM service_listings ORDER BY id DESC LIMIT %s)", [LISTING_WRITES])
            write_ms = (time.perf_counter() - started) * 1000 / LISTING_WRITES
            times = [conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0][0]["Execution Time"]
                     for _ in range(6)][1:]
            out[name] = {"search_ms": statistics.median(times), "write_ms": write_ms}
            conn.rollback()
            # The rolled-back edits' heap versions and index entries (and a pending list) gone
            # before the next run, so each run starts from the same table.
            with psycopg.connect(owner, autocommit=True) as vacuum:
                vacuum.execute("VACUUM service_listings")
    return out


#: The page a search returns, and where a capped count would stop ("1,000+").
SEARCH_PAGE, COUNT_CAP = 25, 1_000


def _search_with_rum(environment: dict, sql: str, expression: str, tsquery: str) -> dict:
    """Diagnostic (not how the search runs): the bench's search answered by a RUM index, the
    index that keeps each lexeme's positions and ranks in the index, returning matches in rank
    order (`<=>`), so that a page needs no ranking of every match in the heap. Where the server has
    the `rum` extension (Debian: postgresql-<version>-rum; the bench installs nothing, and the
    embedded pgserver has none): in one transaction as the superuser, rolled back (the extension
    and the index with it). The top SEARCH_PAGE by the index's rank, the same filters and no count;
    a count capped at COUNT_CAP + 1, with the deployed index alone and with the RUM index there; the
    RUM index's build time and size; an edit's time with it (LISTING_WRITES edits), against the
    deployed index's."""
    import psycopg

    where = sql.split(" FROM service_listings l WHERE ", 1)[1].split(" ORDER BY ", 1)[0]
    query = f"'{tsquery}'::tsquery"
    statements = {
        "top_page": f"SELECT l.id FROM service_listings l WHERE {where} ORDER BY {expression} <=> {query}"
                    f" LIMIT {SEARCH_PAGE}",
        "capped_count": f"SELECT count(*) FROM (SELECT 1 FROM service_listings l WHERE {where}"
                        f" LIMIT {COUNT_CAP + 1}) capped",
    }
    edited = False
    try:
        with psycopg.connect(admin_url(environment, "MARKETPLACE_DATABASE_URL")) as conn:
            out: dict = {}

            def timed(name: str, statement: str) -> None:
                plans = [conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}").fetchone()[0][0]
                         for _ in range(6)][1:]
                out[f"{name}_ms"] = statistics.median(plan["Execution Time"] for plan in plans)
                out[f"{name}_index"] = sorted({n["Index Name"] for n in _plan_nodes(plans[0]["Plan"]) if "Index Name" in n})

            timed("capped_count_deployed", statements["capped_count"])  # what a capped count alone saves
            if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'").fetchone():
                return {**out, "unavailable": "the server has no rum extension"}
            conn.execute("CREATE EXTENSION IF NOT EXISTS rum")
            started = time.perf_counter()
            conn.execute(f"CREATE INDEX bench_listings_search_rum ON service_listings USING rum ({expression} rum_tsvector_ops)")
            out["build_s"] = time.perf_counter() - started
            out["index_mb"] = conn.execute("SELECT pg_relation_size('bench_listings_search_rum')").fetchone()[0] / 2**20
            for name, statement in statements.items():
                timed(name, statement)
            if "bench_listings_search_rum" not in out["top_page_index"]:
                conn.rollback()
                return {**out, "error": "the planner did not use the RUM index for the page"}
            edited = True
            started = time.perf_counter()
            conn.execute("UPDATE service_listings SET title = title || ' (edited)'"
                         " WHERE id IN (SELECT id FROM service_listings ORDER BY id DESC LIMIT %s)", [LISTING_WRITES])
            out["write_ms"] = (time.perf_counter() - started) * 1000 / LISTING_WRITES
            conn.rollback()
        return out
    except Exception as exc:  # noqa: BLE001 - a diagnostic: the rest of the run still counts
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        if edited:  # the rolled-back edits' row versions, gone before the next scenario
            with psycopg.connect(admin_url(environment, "MARKETPLACE_DATABASE_URL"), autocommit=True) as vacuum:
                vacuum.execute("VACUUM service_listings")


def scenario_api_depth(environment: dict, server: Server, logins: dict) -> dict:
    """Deep pages over HTTP: the transaction list's cursor deep in the provider's history against
    its first page, and the message history 100,000 deep by the API's cursor against the bench-only
    OFFSET variant of the same endpoint (bench/urls.py)."""
    import base64
    from urllib.parse import urlencode

    import psycopg

    provider = token(server, logins["provider"], logins["password"])
    headers = ["-H", f"Authorization: Bearer {provider}"]
    thread = logins["deep_thread_id"]
    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        provider_id = conn.execute("SELECT provider_id FROM message_threads WHERE id = %s", [thread]).fetchone()[0]
        history = conn.execute("SELECT count(*) FROM marketplace_transactions WHERE provider_id = %s",
                               [provider_id]).fetchone()[0]
        depth = history * 2 // 3  # two thirds into the provider's (long) history
        created_at, tx_id = conn.execute(
            "SELECT created_at, id FROM marketplace_transactions WHERE provider_id = %s "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1", [provider_id, depth]).fetchone()
        # The statement selectors.transaction_page runs for that cursor.
        deep_plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT t.*, p.business_name, p.kind, p.city, p.state FROM marketplace_transactions t "
            "JOIN marketplace_providers p ON p.id = t.provider_id WHERE t.provider_id = %s "
            "AND (t.created_at, t.id) < (%s, %s) ORDER BY t.created_at DESC, t.id DESC LIMIT 26",
            [provider_id, created_at, tx_id]).fetchall())
        message_row = conn.execute(
            "SELECT created_at, id FROM messages WHERE thread_id = %s ORDER BY created_at DESC, id DESC "
            "OFFSET 99999 LIMIT 1", [thread]).fetchone()
    # The cursors exactly as the API writes them (breederhq.api.keyset.encode_position).
    tx_cursor = base64.urlsafe_b64encode(f"{created_at.isoformat()}|{tx_id}".encode()).decode()
    message_cursor = base64.urlsafe_b64encode(f"{message_row[0].isoformat()}|{message_row[1]}".encode()).decode()
    base = f"{server.url}/api/v1/marketplace/"
    first, deep = interleaved(lambda: wrk_with(f"{base}transactions/?as=provider", headers),
                              lambda: wrk_with(f"{base}transactions/?as=provider&{urlencode({'cursor': tx_cursor})}",
                                               headers))
    by_cursor, by_offset = interleaved(
        lambda: wrk_with(f"{base}threads/{thread}/messages/?{urlencode({'cursor': message_cursor})}", headers),
        lambda: wrk_with(f"{server.url}/bench/threads/{thread}/messages-by-offset?offset=100000", headers))
    return {
        "transactions_depth_rows": depth, "transactions_history_rows": history,
        "transactions_first_rps": median(first, "rps"), "transactions_deep_rps": median(deep, "rps"),
        "transactions_deep_vs_first": median(deep, "rps") / median(first, "rps"),
        "transactions_deep_plan_sorts": _sorts(deep_plan),
        "messages_cursor_rps": median(by_cursor, "rps"), "messages_offset_rps": median(by_offset, "rps"),
        "messages_cursor_p99_ms": median(by_cursor, "p99_ms"), "messages_offset_p99_ms": median(by_offset, "p99_ms"),
        "messages_cursor_vs_offset": median(by_cursor, "rps") / median(by_offset, "rps"),
        "non_2xx": sum(r["non_2xx"] for r in first + deep + by_cursor + by_offset),
    }


REQUEST_COST_TARGETS = {
    "baseline": ("/bench/baseline?id=1", None),
    "webhook": None,  # a POST, measured with the webhook's own body below
    "listing_search": ("/api/v1/marketplace/listings/?q=grooming%20puppy&state=TX", None),
    # A different search each request (an upper price bound above every price): each misses the cache.
    "listing_search_uncached": ("/api/v1/marketplace/listings/?q=grooming%20puppy&state=TX&price_max_cents={n}", None),
    "transactions_first_page": ("/api/v1/marketplace/transactions/?as=provider", "provider"),
    "messages_newest_page": ("/api/v1/marketplace/threads/{deep_thread_id}/messages/", "provider"),
    "contacts_with_marketplace_names": ("/api/v1/contacts/", "owner"),
}


def scenario_request_costs(environment: dict, logins: dict) -> dict:
    """Where a request's time goes, in process (Django test client, the same settings and data):
    CPU of the Python process per request, time waiting on PostgreSQL (every query, timed by an
    execute wrapper) and queries per request. This is what bounds each HTTP ratio: on 2 cores the
    web workers' CPU is the ceiling, so an endpoint needing k times the baseline's CPU cannot run
    at more than about 1/k of its rate."""
    code = r'''
import json, sys, time, django
django.setup()
from contextlib import ExitStack
from statistics import median
from django.db import connections
from django.test import Client
import stripe
from bench.run import REQUEST_COST_TARGETS
sys.path.insert(0, ".")
from tests.fakes.stripe_server import stripe_event
logins, secret = json.loads(sys.argv[1]), sys.argv[2]
ROUNDS, REQUESTS = 5, 60
client = Client(HTTP_HOST="localhost")
def bearer(who):
    response = client.post("/api/v1/auth/token/", {"email": logins[who], "password": logins["password"]},
                           content_type="application/json")
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"}
waited = [0.0, 0]
def timer(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        waited[0] += time.perf_counter() - started
        waited[1] += 1
def webhook_request(i):
    body = json.dumps(stripe_event("account.updated", {"id": f"acct_cost_{i}", "object": "account",
                                   "charges_enabled": True, "payouts_enabled": True, "details_submitted": True,
                                   "requirements": {}, "filler": "x" * 2000}, event_id=f"evt_cost_{i}"),
                      separators=(",", ":"))
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    return lambda: client.post("/api/v1/payments/stripe/webhook", body, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)
def calls_for(name, count):
    """`count` requests of the target, each new: a webhook event or a search never sent before."""
    target = REQUEST_COST_TARGETS[name]
    if target is None:
        return [webhook_request(f"{time.time_ns()}_{i}") for i in range(count)]
    url, who = target
    unique = time.time_ns()  # {n}: a value no earlier request (or run) used
    return [lambda url=url.format(n=unique + i, **logins): client.get(url, **headers[name]) for i in range(count)]
headers = {name: bearer(target[1]) if target and target[1] else {} for name, target in REQUEST_COST_TARGETS.items()}
for name in REQUEST_COST_TARGETS:  # warm every path (imports, connections, caches) before measuring any
    for call in calls_for(name, 20):
        assert call().status_code == 200, name
# Rounds of every target in turn (A B C ... A B C ...), each round REQUESTS requests of each: the host's
# speed drifts over a run, so each target's CPU is compared with the baseline's in the same round.
rounds = {name: [] for name in REQUEST_COST_TARGETS}
for _ in range(ROUNDS):
    for name in REQUEST_COST_TARGETS:
        calls = calls_for(name, REQUESTS)
        waited[:] = [0.0, 0]
        with ExitStack() as stack:
            for alias in ("default", "marketplace"):
                stack.enter_context(connections[alias].execute_wrapper(timer))
            cpu, wall = time.process_time(), time.perf_counter()
            for call in calls:
                call()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rounds[name].append({"cpu_ms": cpu / REQUESTS * 1000, "wall_ms": wall / REQUESTS * 1000,
                             "db_wait_ms": waited[0] / REQUESTS * 1000, "queries": waited[1] / REQUESTS})
out = {name: {**{key: median([r[key] for r in measured]) for key in measured[0]},
              "cpu_vs_baseline": median([r["cpu_ms"] / b["cpu_ms"] for r, b in zip(measured, rounds["baseline"])]),
              "rounds": len(measured), "requests_per_round": REQUESTS,
              "cpu_ms_by_round": [round(r["cpu_ms"], 3) for r in measured]}
       for name, measured in rounds.items()}
print(json.dumps(out))
'''
    result = subprocess.run([sys.executable, "-c", code, json.dumps(logins), environment["STRIPE_WEBHOOK_SECRET"]],
                            cwd=BASE_DIR, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1][:300]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def scenario_admin_queries(environment: dict) -> dict:
    """Queries per database for the back office's invoice and transaction change lists at 20 and 100
    rows per page, as a superuser working on tenant bench-7 (Django test client, bench data)."""
    code = r'''
import json, django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()  # the test client records response.context
from django.contrib import admin
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from marketplace_app.models import MarketplaceTransaction
from tenant_app.models import Invoice, Tenant, User
root = User.objects.filter(email="bench-root@bench.test").first() or User.objects.create_superuser(
    username="bench-root@bench.test", email="bench-root@bench.test", password="bench-password-123")
client = Client(HTTP_HOST="localhost")
client.force_login(root)
tenant = Tenant.objects.get(slug="bench-7")
assert client.post(reverse("backoffice:support"), {"tenant": tenant.pk, "reason": "bench: change list query counts",
                                                   "next": reverse("admin:index")}).status_code == 302
out = {}
for model, name in ((Invoice, "invoices"), (MarketplaceTransaction, "transactions")):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    client.get(url)
    for size in (20, 100):
        admin.site._registry[model].list_per_page = size
        with CaptureQueriesContext(connections["default"]) as t, CaptureQueriesContext(connections["marketplace"]) as m:
            response = client.get(url)
        assert response.status_code == 200, response.status_code
        shown = len(response.context["cl"].result_list)
        out[f"{name}_{size}"] = {"tenant_db": len(t), "marketplace_db": len(m), "rows": shown}
print(json.dumps(out))
'''
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True,
                            text=True)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1][:300]}
    return json.loads(result.stdout.strip().splitlines()[-1])


#: How often beat runs the integrity check (config/beat_schedule.py, "crossdb-check": every 15 minutes).
CROSSDB_CHECK_PERIOD_SECONDS = 15 * 60


def scenario_crossdb_check(environment: dict, runs: int = 3) -> dict:
    """The cross-database integrity check over the whole data set, as `manage.py crossdb_check`
    (what beat's job runs every 15 minutes): wall time per run, the median of `runs` runs each in a
    fresh process (Django's start included), as a share of its period, and the rows it checked."""
    seconds, report = [], {}
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "manage.py", "crossdb_check", "--json"], cwd=BASE_DIR,
                                env=environment, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        try:  # exit 1 with a report is a check that found problems: still timed
            report = json.loads(result.stdout)
        except ValueError:
            return {"error": (result.stderr.strip().splitlines() or ["exit code %d" % result.returncode])[-1][:300]}
    checked = report["checked"]
    return {
        "seconds": statistics.median(seconds), "runs": runs, "problems": len(report["problems"]),
        "share_of_period": statistics.median(seconds) / CROSSDB_CHECK_PERIOD_SECONDS,
        "source_rows": sum(n for name, n in checked.items() if not name.endswith(("cross_db_references", "outbox_messages_open"))),
        "registry_rows": sum(n for name, n in checked.items() if name.endswith("cross_db_references")),
    }


def scenario_gunicorn(environment: dict, logins: dict) -> dict:
    """The transaction list (CPU-bound), webhook ingestion (waits on its commit) and the baseline
    under worker settings a 2-core host could use, interleaved, 2 rounds each."""
    results = {}
    for name, options in gunicorn_choices(environment).items():
        # Signed just before use: the SDK refuses a signature older than 300 s.
        after_id = inbox_last_id(environment)
        files = webhook_delivery_files(environment, 2, time.time_ns(), per_file=12_000)
        deliveries = iter(files)
        server = Server(environment, options=options)
        try:
            bearer = ["-H", f"Authorization: Bearer {token(server, logins['provider'], logins['password'])}"]
            api, webhook, base = [], [], []
            for _ in range(2):
                api.append(wrk_with(f"{server.url}/api/v1/marketplace/transactions/?as=provider", bearer))
                base.append(wrk(f"{server.url}/bench/baseline?id=1"))
                webhook.append(wrk_webhook(server, next(deliveries)))
        finally:
            server.stop()
            for file in files:
                os.unlink(file)
            discard_bench_events(environment, after_id)
        results[name] = {"transactions_rps": median(api, "rps"), "transactions_p99_ms": median(api, "p99_ms"),
                         "webhook_rps": median(webhook, "rps"), "webhook_p99_ms": median(webhook, "p99_ms"),
                         "webhook_non_2xx": sum(r["non_2xx"] for r in webhook),
                         "baseline_rps": median(base, "rps"), "baseline_p99_ms": median(base, "p99_ms")}
    return results


#: wrk's connections, each sending its next request as soon as the last is answered.
CONNECTIONS = 16


def wrk_with(url: str, extra: list[str], trailing: list[str] = ()) -> dict:
    """One wrk run: req/s, p50/p95/p99 in ms, non-2xx answers. A Lua script in `extra` ("-s path")
    runs with bench/percentiles.lua appended (wrk takes one script), which prints the percentiles."""
    extra, script_text = list(extra), ""
    if "-s" in extra:
        at = extra.index("-s")
        script_text = Path(extra[at + 1]).read_text() + "\n"
        del extra[at:at + 2]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(script_text + (BASE_DIR / "bench" / "percentiles.lua").read_text())
        script.flush()
        command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "-s", script.name, *extra, url, *trailing]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {f"p{p}_ms": int(us) / 1000 for p, us in re.findall(r"^bench-percentile (\d+) (\d+)$", out, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, **latency, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


# --- report -----------------------------------------------------------------------------------------


def verdict(achieved: float, target: float, higher_is_better: bool = True) -> str:
    ok = achieved >= target if higher_is_better else achieved <= target
    return "met" if ok else "MISSED"


def report_name(scale: str) -> str:
    """bench/reports/<name>.md and .json: `latest` for the small data set (the one docs/benchmarks.md
    links), the scale's own name for the others."""
    return "latest" if scale == "small" else scale


def write_report(results: dict) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{report_name(results['scale'])}.json").write_text(json.dumps(results, indent=2))
    c, w, r, m, x = (results[k] for k in ("calibration", "webhooks", "rls", "messages_sql", "crossdb_resolution"))
    rows = [
        ("calibration: pgbench -S (tps)", f"{c['pgbench_select_tps']:.0f}", "—", "—"),
        ("calibration: baseline view (req/s, p99)", f"{c['baseline_rps']:.0f}, {c['baseline_p99_ms']:.1f} ms",
         "—", f"{c['baseline_share_of_pgbench']:.2f} of pgbench"),
        ("webhook ingestion vs baseline", f"{ratio_text(w['ratio_to_baseline'], 0.5)}, p99 {w['p99_ms']:.1f} ms",
         "≥ 0.5x, p99 ≤ 25 ms", verdict(w["ratio_to_baseline"], 0.5) + (" / " + verdict(w["p99_ms"], 25, False))),
        *([("webhook ingestion with synchronous_commit off (diagnostic only: not how the inbox runs)",
             f"{w['without_durable_commit']['ratio_to_baseline']:.2f}x, p99 {w['without_durable_commit']['p99_ms']:.1f} ms"
             + (f", {w['without_durable_commit']['non_2xx']} non-2xx" if w["without_durable_commit"].get("non_2xx") else ""),
             "—", "—")] if "without_durable_commit" in w else []),
        ("webhook duplicates stored twice", str(w["duplicate_inbox_rows"]), "0", verdict(-w["duplicate_inbox_rows"], 0)),
        ("webhook processing by a Celery worker (2 processes): events/s, left unprocessed",
         f"{w['processing_per_second'] or 0:.0f}/s, {w['left_unprocessed']} of {w['processed_events'] + w['left_unprocessed']}",
         "—", "—"),
        ("webhook duplicate side effects (an event's handling committed twice)",
         f"{w['duplicate_effects']} of {w['events_handled']} handled", "0", verdict(-w["duplicate_effects"], 0)),
        (f"RLS on vs off (same tenant query; median of {r['rounds']} rounds, range)",
         f"{ratio_text(r['ratio_on_to_off'], 0.9)} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})", "≥ 0.9x",
         verdict(r["ratio_on_to_off"], 0.9)),
        ("messages: cursor vs OFFSET 100,000 (SQL, same columns)", f"{m['cursor_vs_offset']:.0f}x", "≥ 100x",
         verdict(m["cursor_vs_offset"], 100)),
        ("messages: Sort node in the cursor plan", str(m["cursor_plan_sorts"]), "False", verdict(0 if m["cursor_plan_sorts"] else 1, 1)),
        ("messages: partitioned vs unpartitioned thread query (SQL)", f"{m['partitioned_vs_unpartitioned']:.2f}x",
         "≥ 0.8x", verdict(m["partitioned_vs_unpartitioned"], 0.8)),
        ("cross-DB resolution, page 100: batched vs naive", f"{x['100']['speedup']:.1f}x", "≥ 10x", verdict(x["100"]["speedup"], 10)),
        ("cross-DB resolution: tenant-DB queries at 20 / 100 rows"
         + (" (the invoices read + the audited system-read context's)" if "tenant_db_queries_resolve" in x["100"] else ""),
         f"{x['20']['tenant_db_queries_batched']} / {x['100']['tenant_db_queries_batched']}"
         + (f" ({x['100']['tenant_db_queries_resolve']} + {x['100']['tenant_db_queries_batched'] - x['100']['tenant_db_queries_resolve']})"
            if "tenant_db_queries_resolve" in x["100"] else "")
         + f" (naive {x['100']['tenant_db_queries_naive']})",
         "constant", verdict(1 if x["20"]["tenant_db_queries_batched"] == x["100"]["tenant_db_queries_batched"] else 0, 1)),
        *crossdb_api_rows(results.get("crossdb_api")),
        *fault_rows(results.get("faults")),
    ]
    lines = [f"# Benchmark report ({results['scale']} scale, {results['finished_at']})", "",
             f"{ROUNDS} interleaved rounds of {DURATION} s per HTTP figure; medians. gunicorn with "
             f"{results.get('gunicorn_workers', '?')}.", "",
             *dataset_lines(results.get("dataset") or {}),
             *server_lines(results.get("server") or {}),
             "| scenario | achieved | target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {t} | {v} |" for a, b, t, v in rows]
    api_targets = {"listing_search": "≥ 0.5x, p99 ≤ 30 ms", "listing_search_uncached": "≥ 0.5x, p99 ≤ 30 ms",
                   "transactions_first_page": "≥ 0.5x", "messages_newest_page": "—",
                   "contacts_with_marketplace_names": "—"}
    for name, target in api_targets.items():
        a = results["api"].get(name)
        if a is None:  # reports from before the search cache measured one search only
            continue
        ok = verdict(a["ratio_to_baseline"], 0.5) if target != "—" else "—"
        if name.startswith("listing_search"):
            ok += " / " + verdict(a["p99_ms"], 30, False)
        matches = f", {a['matches']:,} matches ranked" if "matches" in a else ""
        latency = (f"p50/p95/p99 {a['p50_ms']:.1f}/{a['p95_ms']:.1f}/{a['p99_ms']:.1f} ms" if "p95_ms" in a
                   else f"p99 {a['p99_ms']:.1f} ms")
        lines.append(f"| API {API_LABELS.get(name, name.replace('_', ' '))} vs baseline | "
                     f"{ratio_text(a['ratio_to_baseline'], 0.5 if target != '—' else None)}, {latency}"
                     f"{matches}{', ' + str(a['non_2xx']) + ' non-2xx' if a['non_2xx'] else ''} | {target} | {ok} |")
        if name == "listing_search_uncached" and (p := results.get("search_plan")) and "error" not in p:
            lines.append(f"| listing search inside PostgreSQL (EXPLAIN ANALYZE): GIN index, heap pages, rank + count + sort | "
                         f"{p['execution_ms']:.1f} ms: {p['index_scan_ms']:.1f} ms to {p['candidates']:,} candidates, "
                         f"{p['heap_scan_ms']:.1f} ms over {p['heap_blocks']:,} pages, "
                         f"{p['execution_ms'] - p['index_scan_ms'] - p['heap_scan_ms']:.1f} ms | — | — |")
            if w := p.get("after_writes"):
                lines.append(
                    f"| listing search inside PostgreSQL after {w['writes']:,} listing edits: the index as deployed"
                    f" (no fastupdate) vs PostgreSQL's default (fastupdate: a pending list every search scans) |"
                    f" {w['deployed']['search_ms']:.2f} vs {w['fastupdate']['search_ms']:.2f} ms"
                    f" ({w['fastupdate']['search_ms'] / w['deployed']['search_ms']:.1f}x); an edit"
                    f" {w['deployed']['write_ms']:.2f} vs {w['fastupdate']['write_ms']:.2f} ms | — | — |")
            if (r := p.get("rum")) and "error" in r:
                lines.append(f"| listing search inside PostgreSQL with a RUM index (diagnostic) | not measured:"
                             f" {r['error']} | — | — |")
            elif r:
                capped = (f"a count capped at {COUNT_CAP + 1:,}: {r['capped_count_deployed_ms']:.1f} ms with the"
                          f" deployed index (the whole statement {p['execution_ms']:.1f} ms)")
                if "unavailable" in r:
                    lines.append(f"| listing search inside PostgreSQL: what a capped count saves | {capped}; RUM not"
                                 f" measured ({r['unavailable']}) | — | — |")
                else:
                    lines.append(
                        f"| listing search inside PostgreSQL with a RUM index (diagnostic, not how the search runs:"
                        f" the page in the index's rank order, no count) vs as deployed (ranked and counted) |"
                        f" {r['top_page_ms']:.1f} vs {p['execution_ms']:.1f} ms"
                        f" ({r['top_page_ms'] / p['execution_ms']:.2f}x the time); {capped}, {r['capped_count_ms']:.1f} ms with"
                        f" RUM there; RUM built in {r['build_s']:.0f} s, {r['index_mb']:.0f} MB; an edit"
                        f" {r['write_ms']:.2f} ms with it | — | — |")
    d = results["api_depth"]
    lines += [
        f"| API transactions: page {d['transactions_depth_rows']:,} rows deep vs first page (cursor) | "
        f"{ratio_text(d['transactions_deep_vs_first'], 0.9)} | ≥ 0.9x | {verdict(d['transactions_deep_vs_first'], 0.9)} |",
        f"| API transactions: Sort node in the deep-page plan | {d['transactions_deep_plan_sorts']} | False | "
        f"{verdict(0 if d['transactions_deep_plan_sorts'] else 1, 1)} |",
        f"| API messages 100,000 deep: cursor vs OFFSET (HTTP) | {d['messages_cursor_vs_offset']:.1f}x "
        f"(p99 {d['messages_cursor_p99_ms']:.1f} vs {d['messages_offset_p99_ms']:.1f} ms) | ≥ 20x | "
        f"{verdict(d['messages_cursor_vs_offset'], 20)} |",
    ]
    a = results["admin"]
    if "error" in a:
        lines.append(f"| admin change lists: queries per page | not measured: {a['error']} | constant | — |")
    else:
        for name in ("invoices", "transactions"):
            small, large = a[f"{name}_20"], a[f"{name}_100"]
            same = (small["tenant_db"], small["marketplace_db"]) == (large["tenant_db"], large["marketplace_db"])
            lines.append(f"| admin {name} change list: queries (tenant DB + marketplace DB) at {small['rows']} / "
                         f"{large['rows']} rows | {small['tenant_db']} + {small['marketplace_db']} / "
                         f"{large['tenant_db']} + {large['marketplace_db']} | constant | {'met' if same else 'MISSED'} |")
    j = results.get("crossdb_check")
    if j is not None:
        lines.append(
            f"| scheduled crossdb_check (beat, every {CROSSDB_CHECK_PERIOD_SECONDS // 60} min): wall time, share of its period |"
            + (f" not measured: {j['error']} | — | — |" if "error" in j else
               f" {j['seconds']:.1f} s ({j['share_of_period']:.1%}), {j['source_rows']:,} source rows and"
               f" {j['registry_rows']:,} registry rows checked"
               + (f", {j['problems']} problems found" if j.get("problems") else "") + " | — | — |"))
    if "gunicorn" in results:
        lines += ["", "Gunicorn worker settings on this host (req/s and p99, 2 interleaved rounds each; the "
                  "ratio is to that setting's own baseline):", "",
                  "| workers | transactions | webhook ingestion | baseline |", "| --- | --- | --- | --- |"]
        for name, g in results["gunicorn"].items():
            figures = [f"{g['transactions_rps']:.0f}, {g['transactions_p99_ms']:.1f} ms"
                       f" ({g['transactions_rps'] / g['baseline_rps']:.2f}x)"]
            if "webhook_rps" in g:  # reports from before the webhook was compared have none
                figures.append(f"{g['webhook_rps']:.0f}, {g['webhook_p99_ms']:.1f} ms"
                               f" ({g['webhook_rps'] / g['baseline_rps']:.2f}x)"
                               + (f", {g['webhook_non_2xx']} non-2xx" if g.get("webhook_non_2xx") else ""))
            else:
                figures.append("—")
            lines.append(f"| {name} | {' | '.join(figures)} | {g['baseline_rps']:.0f}, {g['baseline_p99_ms']:.1f} ms |")
    lines += request_cost_lines(results)
    lines += missed_target_lines(results)
    (REPORTS / f"{report_name(results['scale'])}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def crossdb_api_rows(x: dict | None) -> list[tuple[str, str, str, str]]:
    """The API's cross-database list (contacts with their marketplace person): queries on each
    database at 20 and 100 rows, and the whole request over HTTP against the per-row variant."""
    if not x:
        return []
    if "error" in x:
        return [("API cross-DB list (contacts with marketplace names)", f"not measured: {x['error']}", "—", "—")]
    q = x["queries"]
    b20, b100, n20, n100 = q["batched_20"], q["batched_100"], q["per_row_20"], q["per_row_100"]
    constant = (b20["tenant_db"], b20["marketplace_db"]) == (b100["tenant_db"], b100["marketplace_db"])
    rows = [(f"API cross-DB list, contacts with their marketplace names: queries (tenant DB + marketplace DB) at "
             f"{b20['rows']} / {b100['rows']} rows ({b20['linked']} / {b100['linked']} linked)",
             f"{b20['tenant_db']} + {b20['marketplace_db']} / {b100['tenant_db']} + {b100['marketplace_db']} "
             f"(per row: {n20['tenant_db']} + {n20['marketplace_db']} / {n100['tenant_db']} + {n100['marketplace_db']})",
             "constant, one per target table on the other DB",
             verdict(1 if constant and b100["marketplace_db"] <= 1 else 0, 1))]
    for size in ("20", "100"):
        h = x[size]
        rows.append((f"API cross-DB list, page {size} over HTTP: batched vs per row (whole request)",
                     f"{h['speedup']:.1f}x ({h['batched_rps']:.0f} vs {h['per_row_rps']:.0f} req/s, p99 "
                     f"{h['batched_p99_ms']:.0f} vs {h['per_row_p99_ms']:.0f} ms)"
                     + (f", {h['non_2xx']} non-2xx" if h["non_2xx"] else ""),
                     "— (≥ 10x is the resolution's, above)", "—"))
    return rows


API_LABELS = {
    "listing_search": "listing search, the same search repeated (from the search cache)",
    "listing_search_uncached": "listing search, a different search each request (from PostgreSQL)",
}


def ratio_text(ratio: float, target: float | None = None) -> str:
    """A ratio with two decimals, or two significant digits below 0.1 (0.0041x, not 0.00x); more
    decimals where two would round a miss up to its target (0.498x, not a missed 0.50x)."""
    text = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"
    decimals = 2
    while target is not None and ratio < target and float(text) >= target and decimals < 6:
        decimals += 1
        text = f"{ratio:.{decimals}f}"
    return text + "x"


def dataset_lines(dataset: dict) -> list[str]:
    if not dataset:
        return []
    parts = []
    for database, counts in dataset.items():
        rows = ", ".join(f"{table} {n:,}" for table, n in counts.items() if table != "bytes")
        parts.append(f"`{database}` {counts['bytes'] / 2**20:,.0f} MiB ({rows})")
    return ["Data: " + "; ".join(parts) + ".", ""]


def server_lines(server: dict) -> list[str]:
    if not server:
        return []
    settings = ", ".join(f"{name} {value}" for name, value in server.items() if name != "server_version")
    return [f"PostgreSQL {server.get('server_version', '?')} as found (the bench does not tune it): {settings}.", ""]


def request_cost_lines(results: dict) -> list[str]:
    costs = results.get("request_costs") or {}
    if "error" in costs or "baseline" not in costs:
        return ["", f"Request costs: not measured ({costs.get('error', 'skipped')})."]
    base = costs["baseline"]["cpu_ms"]
    rounds = costs["baseline"].get("rounds")
    how = (f"{rounds} rounds of every request in turn, {costs['baseline']['requests_per_round']} requests each, each column a median; the CPU ratio "
           "is the median of each round's ratio to that round's baseline, so it need not equal the quotient of the CPU "
           "column's medians" if rounds else "300 requests each")
    lines = ["", f"Where a request's time goes (in process, Django test client, {how}): CPU of the "
             "Python process, time waiting on PostgreSQL, queries. On 2 cores the web workers' CPU is the "
             "ceiling, so an endpoint that needs k times the baseline's CPU runs at about 1/k of its rate.", "",
             "| request | CPU ms | waiting on PostgreSQL ms | queries | CPU vs baseline (per round) |", "| --- | --- | --- | --- | --- |"]
    for name, c in costs.items():
        lines.append(f"| {name.replace('_', ' ')} | {c['cpu_ms']:.2f} | {c['db_wait_ms']:.2f} | {c['queries']:.0f} | "
                     f"{c.get('cpu_vs_baseline', c['cpu_ms'] / base):.1f}x |")
    return lines


def missed_target_lines(results: dict) -> list[str]:
    """For every missed target: why, from this run's own figures, and what it would take."""
    costs = results.get("request_costs") or {}
    base = (costs.get("baseline") or {}).get("cpu_ms")
    out = []

    def cpu_bound(name: str) -> str:
        c = costs.get(name)
        if not c or not base:
            return ""
        return (f" It needs {c['cpu_ms']:.1f} ms of Python CPU per request against the baseline's {base:.1f} ms "
                f"(about {1 / c.get('cpu_vs_baseline', c['cpu_ms'] / base):.2f}x, by the CPU ratio, if the web workers' CPU were all that counted; PostgreSQL and wrk share "
                f"the 2 cores), and waits {c['db_wait_ms']:.1f} ms on "
                f"{c['queries']:.0f} queries.")

    def latency_floor(measured: dict, p99_target_ms: float) -> str:
        """Little's law for wrk's closed loop: with every connection always waiting on an answer, the
        mean latency is connections / rate, whatever the server does; p99 sits above the mean."""
        if measured.get("p99_ms", 0) <= p99_target_ms or not measured.get("ratio_to_baseline"):
            return ""
        rps = measured["rps"]
        base_rps = rps / measured["ratio_to_baseline"]  # the baseline interleaved with it
        need = CONNECTIONS / p99_target_ms * 1000
        base_p99 = (results.get("calibration") or {}).get("baseline_p99_ms")
        own_p99 = f", whose own p99 in the calibration is {base_p99:.0f} ms" if base_p99 else ""
        mean = f" With wrk's {CONNECTIONS} connections each waiting on its answer, the mean latency is {CONNECTIONS} / " \
               f"rate (Little's law): {CONNECTIONS / rps * 1000:.0f} ms at {rps:.0f} req/s."
        if rps > need:
            return (mean + f" That is within {p99_target_ms:.0f} ms: what misses is the tail, requests queued behind "
                    "slower ones on a busy worker, on 2 cores shared with PostgreSQL and wrk.")
        out = (mean + f" A p99 of {p99_target_ms:.0f} ms needs a mean below it, so more than {need:.0f} req/s: "
               f"{need / base_rps:.2f}x the {base_rps:.0f} req/s of the baseline view measured beside it{own_p99}.")
        if need / base_rps > 0.5:
            out += (f" At {CONNECTIONS} clients on these 2 cores the p99 target asks for more than the ratio target "
                    "does; more web cores are what meets both.")
        return out

    fixed_cost = ("What remains is Django REST framework's request cycle (negotiation, the JWT check, permissions, "
                  "the throttle's Redis round trip, pagination, rendering) against a baseline that is one raw "
                  "SELECT in a plain Django view. The transaction list and the message pages already read through "
                  "written-out statements (`selectors.transaction_page`, `message_page`) instead of compiling "
                  "an ORM query per request. What it would take: the same for the other hot reads, or plain "
                  "Django views for them (losing DRF's negotiation and browsable API); more web cores scale "
                  "all of it.")
    def search_plan() -> str:
        p = results.get("search_plan")
        if not p or "error" in p:
            return f" (The search plan was not measured: {p['error']}.)" if p else ""
        postings = ", ".join(f"'{lexeme}' {n:,} listings" for lexeme, n in p["postings"].items())
        shared = (results.get("server") or {}).get("shared_buffers", "?")
        rest = p["execution_ms"] - p["index_scan_ms"] - p["heap_scan_ms"]
        where = (f"; in the last run {p['heap_blocks_in_shared_buffers']:,} were in the {shared} of shared_buffers and "
                 f"{p['heap_blocks_read']:,} were read from the OS" if "heap_blocks_read" in p else "")
        out = (f" Inside PostgreSQL (EXPLAIN ANALYZE, `search_plan` in the JSON) the statement takes "
               f"{p['execution_ms']:.1f} ms plus {p['planning_ms']:.1f} ms planning: {p['index_scan_ms']:.1f} ms in the "
               f"GIN index, intersecting the posting lists of its terms ({postings}) down to {p['candidates']:,} "
               f"candidates; {p['heap_scan_ms']:.1f} ms reading the {p['heap_blocks']:,} heap pages they lie on (they "
               f"are scattered, about one each{where}) to "
               f"keep the {p['matches']:,} that match the other filters; {rest:.1f} ms ranking each (`ts_rank`), "
               "counting them and sorting them for the best 25.")
        return out

    def what_it_would_take() -> str:
        p = results.get("search_plan") or {}
        r = p.get("rum") or {}
        if "error" in p or "error" in r or "capped_count_deployed_ms" not in r:
            return (" What it would take for every search: neither counting nor ranking every match, so a capped "
                    "count (\"1,000+\", which changes what the API promises) together with an index that returns "
                    "the top matches without visiting the rest.")
        out = (" What it would take for every search: not visiting every match. A capped count (\"1,000+\", which "
               "changes what the API promises) would not do it alone: the page in rank order still needs every "
               "match read and ranked, and the capped count itself costs "
               f"{r['capped_count_deployed_ms']:.1f} ms of the statement's {p['execution_ms']:.1f} ms in this run "
               "(a bitmap index scan builds the whole bitmap of candidates before the heap scan reads one).")
        if "unavailable" in r:
            out += (" RUM, the index extension that ranks inside the index, was not measured in this run "
                    f"({r['unavailable']}; Debian packages it as postgresql-<version>-rum).")
        else:
            faster = r["top_page_ms"] < p["execution_ms"]
            out += (" RUM, the index extension that ranks inside the index (Debian packages it; the embedded "
                    f"pgserver lacks it), returns the page alone in {r['top_page_ms']:.1f} ms, uncounted"
                    + (" (the `rum` row)." if faster else
                       ", slower than the deployed statement ranked and counted (the `rum` row): it still computes "
                       "every match's rank from the positions it stores and sorts them before returning the first."))
        return out + (" What is left is a search engine beside PostgreSQL whose inverted index skips through "
                      "posting lists for the top k (block-max WAND, as in Lucene or Tantivy): a stack change, with a "
                      "second copy of the listings to keep consistent. Until then the search cache serves a "
                      "repeated search and the time limit bounds the rest.")

    api = results.get("api", {})
    search = api.get("listing_search")
    if search and (search["ratio_to_baseline"] < 0.5 or search["p99_ms"] > 30):
        out.append(f"- Listing search from the search cache ({ratio_text(search['ratio_to_baseline'], 0.5)}, p99 "
                   f"{search['p99_ms']:.0f} ms)." + cpu_bound("listing_search") + " It reads no table: one Redis "
                   "round trip for the page and the generation. " + fixed_cost
                   + latency_floor(search, 30))
    uncached = api.get("listing_search_uncached")
    if uncached and (uncached["ratio_to_baseline"] < 0.5 or uncached["p99_ms"] > 30):
        out.append(f"- Listing search read from PostgreSQL, a different search each request "
                   f"({ratio_text(uncached['ratio_to_baseline'], 0.5)}, p99 {uncached['p99_ms']:.0f} ms)."
                   + cpu_bound("listing_search_uncached") + " The database part is real work: it ranks every match "
                   "(`ts_rank`) to return the best 25 and counts them all for `count`, found by one GIN index over "
                   "the text and the filters (`marketplace_app/search_document.py`)." + search_plan()
                   + " The search cache serves a repeated search (the row above), and each search is read again "
                   "once per LISTING_SEARCH_CACHE_SECONDS and after a listing or provider changes."
                   + what_it_would_take() + latency_floor(uncached, 30))
    tx = api.get("transactions_first_page")
    if tx and tx["ratio_to_baseline"] < 0.5:
        out.append(f"- Transaction list ({ratio_text(tx['ratio_to_baseline'], 0.5)})." + cpu_bound("transactions_first_page")
                   + " " + fixed_cost)
    w = results.get("webhooks", {})
    if w and (w.get("ratio_to_baseline", 1) < 0.5 or w.get("p99_ms", 0) > 25):
        lazy = w.get("without_durable_commit")
        measured = (f" Measured in this run with the commit acknowledged before its WAL is flushed "
                    f"(`synchronous_commit = off`), ingestion runs at {lazy['ratio_to_baseline']:.2f}x, p99 "
                    f"{lazy['p99_ms']:.0f} ms: the durable commit, during which the worker idles, is a large share of "
                    "what remains." if lazy else "")
        out.append(f"- Webhook ingestion ({ratio_text(w['ratio_to_baseline'], 0.5)}, p99 {w['p99_ms']:.0f} ms)." + cpu_bound("webhook")
                   + " Per event: the signature check over the raw body, one JSON parse, one committed insert of "
                   "the payload (jsonb), and its share of a Celery publish (one message per ~50 ms of events under "
                   "load). Each request also holds its sync worker while it waits for PostgreSQL (the insert's "
                   "commit, the connection health check), with the CPU idle." + measured + " What it would take: more workers "
                   "or threads to overlap those waits (the worker table compares them on this host), or "
                   "`synchronous_commit = off` for the inbox "
                   "insert, which would trade the durability the inbox exists for (a 200 tells Stripe the event is "
                   "safe, and it will not send it again), so it stays on."
                   + latency_floor(w, 25))
    d = results.get("api_depth", {})
    m = results.get("messages_sql", {})
    if d and d.get("messages_cursor_vs_offset", 99) < 20:
        c = costs.get("messages_newest_page")
        need = f" (the baseline alone costs {base:.1f} ms)" if base else ""
        out.append(f"- Message history 100,000 deep over HTTP, cursor vs OFFSET ({d['messages_cursor_vs_offset']:.1f}x; "
                   f"{m.get('cursor_vs_offset', 0):.0f}x at the SQL level). The OFFSET request's extra cost is its "
                   f"query, {m.get('offset_ms', 0):.0f} ms; the cursor request is almost all fixed cost"
                   + (f", {c['cpu_ms']:.1f} ms of CPU" if c else "") + ". 20x over HTTP would need the whole cursor "
                   f"request under {m.get('offset_ms', 0) / 20:.1f} ms{need}: the fixed cost above, not the query, "
                   "is what stands between.")
    if m and m.get("cursor_vs_offset", 999) < 100:
        floor = (f" A `SELECT 1` takes {m['round_trip_ms']:.2f} ms on the same connection: that round trip is the "
                 "floor of any statement on this host, and most of the rest is decoding the 51 rows in Python."
                 if "round_trip_ms" in m else "")
        out.append(f"- Message history 100,000 deep at the SQL level, cursor vs OFFSET ({m['cursor_vs_offset']:.0f}x): the "
                   f"cursor page costs {m['cursor_ms']:.2f} ms on one connection (psycopg prepares it after five "
                   f"runs, so it is not planned again; it reads 51 rows of {', '.join(m.get('cursor_plan_partitions', []))}"
                   f" by the index, no sort), the OFFSET one {m['offset_ms']:.1f} ms." + floor + " The OFFSET's cost "
                   "grows with the depth and the cursor's does not (far more than 100x at full scale, `full.md`), so here the ratio is "
                   "bounded by the client round trip, not by the query; it reaches 100x where a round trip costs "
                   "under a hundredth of the OFFSET query.")
    if m and m.get("partitioned_vs_unpartitioned", 1) < 0.8:
        out.append(f"- Partitioned vs unpartitioned thread queries ({m['partitioned_vs_unpartitioned']:.2f}x): the same "
                   "bounded queries plan over the partitions their window keeps; the remaining difference is that "
                   "planning.")
    r = results.get("rls", {})
    if r and r.get("ratio_on_to_off", 1) < 0.9:
        out.append(f"- RLS on vs off ({ratio_text(r['ratio_on_to_off'], 0.9)}, rounds {r['ratio_min']:.2f}–{r['ratio_max']:.2f}). "
                   f"The query takes {r['rls_off_ms']:.2f} ms without RLS; the policies add a fixed "
                   f"{r['rls_on_ms'] - r['rls_off_ms']:.3f} ms (planning the policy quals, their InitPlans "
                   "reading the session settings once), which shows most on a query this cheap.")
    x = results.get("crossdb_resolution", {}).get("100", {})
    if x and x.get("speedup", 99) < 10:
        out.append(f"- Cross-DB resolution at page 100 ({x['speedup']:.1f}x): batched {x['batched_ms']:.2f} ms "
                   f"against naive {x['naive_ms']:.2f} ms; the naive side is 100 primary-key queries on a warm "
                   "loopback connection, cheap on a quiet host. The query count (constant vs one per row) is "
                   "the figure that holds across hosts.")
    if not out:
        return []
    return ["", "## Missed targets: why, and what it would take", "", *out]


#: The server settings that decide whether the data set is read from memory or not, and how.
SERVER_SETTINGS = ("server_version", "shared_buffers", "effective_cache_size", "work_mem",
                   "max_parallel_workers_per_gather", "random_page_cost", "jit")


def server_settings(environment: dict) -> dict:
    import psycopg

    with psycopg.connect(environment["MARKETPLACE_DATABASE_URL"]) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SERVER_SETTINGS}


def dataset_summary(environment: dict) -> dict:
    """Rows in the tables the scenarios read, and each database's size (after VACUUM)."""
    import psycopg

    out = {}
    for variable, tables in (("TENANT_DATABASE_URL", ("tenants", "contacts", "invoices")),
                             ("MARKETPLACE_DATABASE_URL", ("service_listings", "marketplace_transactions",
                                                           "message_threads", "messages"))):
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
    manage(environment, "migrate", "--database", "default", "--no-input", "-v", "0")
    manage(environment, "migrate", "--database", "marketplace", "--no-input", "-v", "0")
    generated = subprocess.run([sys.executable, "-m", "bench.generate", "--scale", scale], cwd=BASE_DIR,
                               env=environment, capture_output=True, text=True)
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
            "SELECT thread_id FROM messages GROUP BY thread_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--fresh", action="store_true", help="drop the bench databases and generate again")
    parser.add_argument("--skip-gunicorn", action="store_true", help="skip the gunicorn worker comparison")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO",
                        choices=["calibration", "webhooks", "rls", "messages_sql", "crossdb_resolution", "crossdb_api", "search_plan", "api",
                                 "api_depth", "admin", "request_costs", "crossdb_check", "faults", "gunicorn"],
                        help="run only these scenarios and print their figures (no report written)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian: apt-get install wrk); `make bench` installs it")
    os.chdir(BASE_DIR)
    environment, services = bench_environment(args.scale)
    server = None
    try:
        deep_thread = prepare(environment, scale=args.scale, fresh=args.fresh)
        os.environ.update({k: environment[k] for k in ("DJANGO_SETTINGS_MODULE",)})
        server = Server(environment)
        results = {"scale": args.scale, "dataset": dataset_summary(environment),
                   "server": server_settings(environment), "gunicorn_workers": deployed_label(environment)}
        logins = None

        def bench_logins() -> dict:
            nonlocal logins
            if logins is None:
                logins = json.loads(subprocess.run(
                    [sys.executable, "-m", "bench.generate", "--logins"], cwd=BASE_DIR, env=environment, check=True,
                    capture_output=True, text=True).stdout.strip().splitlines()[-1])
            return logins

        scenarios = {
            "calibration": lambda: scenario_calibration(environment, server),
            "webhooks": lambda: scenario_webhooks(environment, server),
            "rls": lambda: scenario_rls_cost(environment),
            "messages_sql": lambda: scenario_messages_sql(environment, deep_thread),
            "crossdb_resolution": lambda: scenario_crossdb_resolution(environment),
            "crossdb_api": lambda: scenario_crossdb_api(environment, server, bench_logins()),
            "search_plan": lambda: scenario_search_plan(environment),
            "api": lambda: scenario_api(environment, server, bench_logins()),
            "api_depth": lambda: scenario_api_depth(environment, server, bench_logins()),
            "admin": lambda: scenario_admin_queries(environment),
            "request_costs": lambda: scenario_request_costs(environment, bench_logins()),
            "crossdb_check": lambda: scenario_crossdb_check(environment),
            "faults": lambda: scenario_redis_down(environment),
        }
        for name, run in scenarios.items():
            if not args.only or name in args.only:
                log(name)
                results[name] = run()
        if args.only:  # a partial run: figures for a quick look, the report stays as it was
            if "gunicorn" in args.only:
                server.stop()
                server = None
                log("gunicorn workers")
                results["gunicorn"] = scenario_gunicorn(environment, bench_logins())
            print(json.dumps(results, indent=2, default=str))
            return 0
        if not args.skip_gunicorn:
            server.stop()
            server = None
            log("gunicorn workers")
            try:
                results["gunicorn"] = scenario_gunicorn(environment, bench_logins())
            except Exception as exc:  # the main figures are in already: report them anyway
                log(f"gunicorn comparison failed: {exc!r}")
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_report(results)
    finally:
        if server:
            server.stop()
        for service in services:
            if hasattr(service, "stop"):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
