"""Webhook ingestion: signed Stripe deliveries of several event types and sizes, with duplicates
anywhere in the stream, sent through bench/lua/webhook.lua; a real Celery worker then works them
off (events per second, none handled twice); and ingestion with `synchronous_commit = off`, to
show what the durable commit costs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from bench.environment import BASE_DIR, admin_url, reset_synchronous_commit, tenant_database
from bench.load import ROUNDS, Bench, lua, wrk
from bench.servers import Server

#: The event types of the stream, with their share and the size range of their filler in bytes:
#: the handled types as Stripe sends them to a platform (a connected account's changes, payments,
#: charges, invoices with their lines), and a type the inbox stores but no handler acts on.
EVENT_MIX = (
    ("account.updated", 0.35, (300, 2_000)),
    ("payment_intent.succeeded", 0.25, (1_000, 4_000)),
    ("charge.succeeded", 0.15, (2_000, 8_000)),
    ("invoice.paid", 0.15, (4_000, 16_000)),
    ("customer.updated", 0.10, (200, 1_500)),
)
#: The share of deliveries that repeat an event already sent, chosen anywhere earlier in the stream.
DUPLICATE_SHARE = 0.1


def _event_object(event_type: str, i: int, filler: int) -> dict:
    kind = event_type.split(".", 1)[0]
    base = {"id": f"{kind[:3]}_bench_{i}", "object": kind, "metadata": {}, "filler": "x" * filler}
    if kind == "account":
        base.update(
            {
                "id": f"acct_bench_{i % 500}",
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
                "requirements": {},
            }
        )
    elif kind in ("payment_intent", "charge", "invoice"):
        base.update(
            {
                "amount": 5_000 + i % 10_000,
                "amount_received": 5_000 + i % 10_000,
                "amount_paid": 5_000 + i % 10_000,
                "currency": "usd",
                "payment_intent": f"pi_bench_{i}",
            }
        )
    return base


def webhook_delivery_files(environment: dict, count: int, run: int, per_file: int = 15_000) -> list[str]:
    """Files of signed deliveries for bench/lua/webhook.lua, one per wrk run (wrk starts each run at
    the first line): events of EVENT_MIX's types and sizes, DUPLICATE_SHARE of them a repeat of any
    event sent before (in this file or an earlier one of the run). Ids carry `run` (the inbox keeps
    earlier runs' events). Signed now, so they must be sent within the SDK's 300 s tolerance."""
    import stripe

    sys.path.insert(0, str(BASE_DIR))
    from tests.fakes.stripe_server import stripe_event

    rng = random.Random(run)
    types = [t for t, _, _ in EVENT_MIX]
    weights = [w for _, w, _ in EVENT_MIX]
    sizes = {t: size for t, _, size in EVENT_MIX}
    sent: list[str] = []
    files = []
    for r in range(count):
        lines = []
        for i in range(per_file):
            if sent and rng.random() < DUPLICATE_SHARE:
                body = sent[rng.randrange(len(sent))]
            else:
                event_type = rng.choices(types, weights)[0]
                n = r * per_file + i
                event = stripe_event(
                    event_type,
                    _event_object(event_type, n, rng.randint(*sizes[event_type])),
                    event_id=f"evt_bench_{run}_{n}",
                )
                body = json.dumps(event, separators=(",", ":"))
                sent.append(body)
            header = stripe.WebhookSignature.generate_signature_header(body, environment["STRIPE_WEBHOOK_SECRET"])
            lines.append(f"{header}\t{body}")
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
            handle.write("\n".join(lines))
        files.append(handle.name)
    return files


def wrk_webhook(server: Server, deliveries: str, **options) -> dict:
    return wrk(
        f"{server.url}/api/v1/payments/stripe/webhook", script=lua("webhook.lua"), script_args=[deliveries], **options
    )


def scenario_webhooks(bench: Bench) -> dict:
    environment, server = bench.environment, bench.stack
    run = time.time_ns()
    # One file per measured run and per warm-up (wrk restarts each file at its first line).
    files = webhook_delivery_files(environment, 2 * ROUNDS, run)
    after_id = inbox_last_id(environment)  # this run's events come after it (the poll reads by id, not LIKE)
    # The queue starts empty (earlier runs' messages would be worked off with this run's).
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", "webhooks"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
        capture_output=True,
    )
    rounds = iter(files)
    measured = bench.against_baselines(lambda duration: wrk_webhook(server, next(rounds), duration=duration))
    for name in files:
        os.unlink(name)
    import psycopg

    with psycopg.connect(environment["TENANT_DATABASE_URL"]) as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT stripe_event_id) FROM stripe_webhook_events"
        ).fetchone()
    return {
        **measured,
        "inbox_rows": stored,
        "duplicate_inbox_rows": stored - distinct,
        "event_types": [t for t, _, _ in EVENT_MIX],
        "duplicate_share": DUPLICATE_SHARE,
        **webhook_processing(environment, f"evt_bench_{run}_", after_id),
        "without_durable_commit": webhook_without_durable_commit(bench),
    }


def webhook_without_durable_commit(bench: Bench) -> dict:
    """Where ingestion's time goes: the same kind of stream, against both baselines, with the bench
    database's commits acknowledged before their WAL reaches the disk (`synchronous_commit = off`,
    a fresh server so every connection has it). Not an option for the inbox, whose 200 tells
    Stripe the event is safe; measured only to show the share the durable commit takes."""
    import psycopg

    environment = bench.environment
    admin = admin_url(environment, "TENANT_DATABASE_URL")
    after_id = inbox_last_id(environment)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{tenant_database(environment)}" SET synchronous_commit = off')
    server, files = None, []
    try:
        server = Server(environment)
        lazy = Bench(environment, server, bench.bare)
        files = webhook_delivery_files(environment, 2 * ROUNDS, time.time_ns(), per_file=12_000)
        deliveries = iter(files)
        return lazy.against_baselines(lambda duration: wrk_webhook(server, next(deliveries), duration=duration))
    finally:
        if server:
            server.stop()
        reset_synchronous_commit(environment)
        for name in files:
            os.unlink(name)
        discard_bench_events(environment, after_id)


def inbox_last_id(environment: dict) -> int:
    import psycopg

    with psycopg.connect(environment["TENANT_DATABASE_URL"]) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM stripe_webhook_events").fetchone()[0]


def discard_bench_events(environment: dict, after_id: int) -> None:
    """Measurement-only deliveries (the worker table, the diagnostic) leave the inbox and the queue
    again: nobody processes them, and the inbox would otherwise grow by every run's."""
    import psycopg

    with psycopg.connect(admin_url(environment, "TENANT_DATABASE_URL"), autocommit=True) as conn:
        conn.execute(
            "DELETE FROM stripe_webhook_events WHERE id > %s AND stripe_event_id LIKE 'evt\\_bench\\_%%'", [after_id]
        )
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", "webhooks"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
        capture_output=True,
    )


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
    pending = (
        "SELECT count(*) FILTER (WHERE status IN ('received', 'failed')), count(*) "
        "FROM stripe_webhook_events WHERE id > %s AND stripe_event_id LIKE %s"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        waiting, total = conn.execute(pending, [after_id, prefix + "%"]).fetchone()
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "2",
                "-Q",
                "webhooks",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=BASE_DIR,
            env=environment,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
        attempts_twice = conn.execute(
            "SELECT count(*) FROM stripe_webhook_events WHERE id > %s AND stripe_event_id LIKE %s AND attempts > 1",
            [after_id, prefix + "%"],
        ).fetchone()[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        effects, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT stripe_event_id) FROM bench_event_effects WHERE stripe_event_id LIKE %s",
            [prefix + "%"],
        ).fetchone()
        conn.execute("DROP TRIGGER bench_event_effect ON stripe_webhook_events")
        conn.execute("DROP FUNCTION bench_note_event_effect()")
        conn.execute("DROP TABLE bench_event_effects")
    elapsed = (finished - first) if first else None
    return {
        "processed_events": total - left,
        "left_unprocessed": left,
        "processing_per_second": (waiting / elapsed) if elapsed else None,
        "events_handled": effects,
        "duplicate_effects": effects - distinct,
        "attempts_counted_twice": attempts_twice,
    }
