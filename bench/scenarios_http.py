"""The HTTP scenarios other than webhooks and search: the calibration, the API lists (many users,
bench/lua/users.lua), deep pages, the cross-database list, and the gunicorn worker comparison. Every
rate against a baseline is against both (bench/load.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

from bench.load import DURATION, ROUNDS, Bench, interleaved, lua, median, wrk, wrk_with
from bench.probes.run import ProbeFailed, probe
from bench.servers import Server, gunicorn_choices
from bench.sql_timings import _sorts
from bench.webhooks import discard_bench_events, inbox_last_id, webhook_delivery_files, wrk_webhook


def scenario_calibration(bench: Bench) -> dict:
    environment = bench.environment
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
    out = subprocess.run(
        [pgbench, "-S", "-c", "8", "-j", "2", "-T", str(DURATION), bench_db_admin],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pg_tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    bare_load, stack_load = bench.baselines()
    bare, stack = [], []
    for _ in range(ROUNDS):
        bare.append(bench.run(bare_load))
        stack.append(bench.run(stack_load))
    return {
        "pgbench_select_tps": pg_tps,
        "baseline_rps": median(stack, "rps"),
        "baseline_p99_ms": median(stack, "p99_ms"),
        "bare_rps": median(bare, "rps"),
        "bare_p99_ms": median(bare, "p99_ms"),
        "stack_vs_bare": median(stack, "rps") / median(bare, "rps"),
        "baseline_share_of_pgbench": median(stack, "rps") / pg_tps,
    }


def scenario_crossdb_api(bench: Bench, logins: dict) -> dict:
    """The API's cross-database list, the contacts of tenant bench-7 with the linked marketplace
    person's name, against the same list reading each person by its own query (bench/urls.py
    `ContactListPerRow`), at page sizes 20 and 100: queries per request on each database
    (bench/probes/crossdb_api_queries.py), and req/s over HTTP, interleaved."""
    server = bench.stack
    try:
        out = {"queries": probe(bench.environment, "crossdb_api_queries", json.dumps(logins))}
    except ProbeFailed as exc:
        return {"error": str(exc)}
    headers = ["-H", f"Authorization: Bearer {token(server, logins['owner'], logins['password'])}"]
    for size in (20, 100):
        batched, per_row = interleaved(
            lambda size=size: wrk_with(f"{server.url}/api/v1/contacts/?page_size={size}", headers),
            lambda size=size: wrk_with(f"{server.url}/bench/contacts-per-row?page_size={size}", headers),
        )
        out[str(size)] = {
            "batched_rps": median(batched, "rps"),
            "per_row_rps": median(per_row, "rps"),
            "batched_p99_ms": median(batched, "p99_ms"),
            "per_row_p99_ms": median(per_row, "p99_ms"),
            "speedup": median(batched, "rps") / median(per_row, "rps"),
            "non_2xx": sum(r["non_2xx"] for r in batched + per_row),
        }
    return out


def token(server: Server, email: str, password: str) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/api/v1/auth/token/",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access"]


def scenario_api(bench: Bench, users: dict) -> dict:
    """The authenticated API lists over HTTP, each request a user picked at random among many
    (bench/lua/users.lua, tokens minted up front), against both baselines."""
    url = bench.stack.url
    results = {}
    for name, kind in (
        ("transactions_first_page", "transactions"),
        ("messages_newest_page", "messages"),
        ("contacts_with_marketplace_names", "contacts"),
    ):
        tokens, count = users[kind]
        results[name] = {
            **bench.against_baselines(
                lambda duration, tokens=tokens: wrk_with(
                    f"{url}/", ["-s", lua("users.lua")], ["--", tokens], duration=duration
                )
            ),
            "users": count,
        }
    return results


def scenario_api_depth(bench: Bench, logins: dict) -> dict:
    environment, server = bench.environment, bench.stack
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
        history = conn.execute(
            "SELECT count(*) FROM marketplace_transactions WHERE provider_id = %s", [provider_id]
        ).fetchone()[0]
        depth = history * 2 // 3  # two thirds into the provider's (long) history
        created_at, tx_id = conn.execute(
            "SELECT created_at, id FROM marketplace_transactions WHERE provider_id = %s "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [provider_id, depth],
        ).fetchone()
        # The statement selectors.transaction_page runs for that cursor.
        deep_plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT t.*, p.business_name, p.kind, p.city, p.state FROM marketplace_transactions t "
                "JOIN marketplace_providers p ON p.id = t.provider_id WHERE t.provider_id = %s "
                "AND (t.created_at, t.id) < (%s, %s) ORDER BY t.created_at DESC, t.id DESC LIMIT 26",
                [provider_id, created_at, tx_id],
            ).fetchall()
        )
        message_row = conn.execute(
            "SELECT created_at, id FROM messages WHERE thread_id = %s ORDER BY created_at DESC, id DESC "
            "OFFSET 99999 LIMIT 1",
            [thread],
        ).fetchone()
    # The cursors exactly as the API writes them (breederhq.api.keyset.encode_position).
    tx_cursor = base64.urlsafe_b64encode(f"{created_at.isoformat()}|{tx_id}".encode()).decode()
    message_cursor = base64.urlsafe_b64encode(f"{message_row[0].isoformat()}|{message_row[1]}".encode()).decode()
    base = f"{server.url}/api/v1/marketplace/"
    first, deep = interleaved(
        lambda: wrk_with(f"{base}transactions/?as=provider", headers),
        lambda: wrk_with(f"{base}transactions/?as=provider&{urlencode({'cursor': tx_cursor})}", headers),
    )
    by_cursor, by_offset = interleaved(
        lambda: wrk_with(f"{base}threads/{thread}/messages/?{urlencode({'cursor': message_cursor})}", headers),
        lambda: wrk_with(f"{server.url}/bench/threads/{thread}/messages-by-offset?offset=100000", headers),
    )
    return {
        "transactions_depth_rows": depth,
        "transactions_history_rows": history,
        "transactions_first_rps": median(first, "rps"),
        "transactions_deep_rps": median(deep, "rps"),
        "transactions_deep_vs_first": median(deep, "rps") / median(first, "rps"),
        "transactions_deep_plan_sorts": _sorts(deep_plan),
        "messages_cursor_rps": median(by_cursor, "rps"),
        "messages_offset_rps": median(by_offset, "rps"),
        "messages_cursor_p99_ms": median(by_cursor, "p99_ms"),
        "messages_offset_p99_ms": median(by_offset, "p99_ms"),
        "messages_cursor_vs_offset": median(by_cursor, "rps") / median(by_offset, "rps"),
        "non_2xx": sum(r["non_2xx"] for r in first + deep + by_cursor + by_offset),
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
                base.append(wrk(server.baseline_url))
                webhook.append(wrk_webhook(server, next(deliveries)))
        finally:
            server.stop()
            for file in files:
                os.unlink(file)
            discard_bench_events(environment, after_id)
        results[name] = {
            "transactions_rps": median(api, "rps"),
            "transactions_p99_ms": median(api, "p99_ms"),
            "webhook_rps": median(webhook, "rps"),
            "webhook_p99_ms": median(webhook, "p99_ms"),
            "webhook_non_2xx": sum(r["non_2xx"] for r in webhook),
            "baseline_rps": median(base, "rps"),
            "baseline_p99_ms": median(base, "p99_ms"),
        }
    return results
