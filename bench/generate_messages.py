"""The message threads and messages of the bench data (bench/generate.py), over `months` monthly
partitions of `messages`; thread 0 is the deep one (its messages evenly spread over the whole span,
alternating buyer and provider). A thread is opened with its first message (created_at) and
last_message_at is its newest one's, as the services keep them (the message pages rely on it)."""

from __future__ import annotations

from datetime import timedelta

from bench.generate_marketplace import MP
from bench.generate_sql import CHUNK, chunks, insert_select, pick
from bench.generate_text import text


def generate_threads(cursor, p: dict, now) -> int:
    """The threads, and the lookup table bench_threads (n, id, buyer_id, created_at,
    last_message_at, provider_user_id); returns the deep thread's id."""
    from django.db import transaction

    from marketplace_app.models import MessageThread
    from marketplace_app.partitions import add_months, ensure_message_partitions, month_start

    first_month = add_months(month_start(now), -p["months"])
    ensure_message_partitions(months_ahead=p["months"] + 2, now=first_month, alias=MP)
    span_start = now - timedelta(days=30 * p["months"])
    span_seconds = int((now - span_start).total_seconds())
    with transaction.atomic(using=MP):
        insert_select(
            cursor,
            MessageThread,
            source="(SELECT g, least(a, b) AS opened, greatest(a, b) AS last FROM generate_series(0, %(n)s - 1) g,"
            f" LATERAL (SELECT {pick('g * 2 + 1', '%(seconds)s')} AS a, {pick('g * 2 + 2', '%(seconds)s')} AS b"
            " OFFSET 0) r) s"
            " JOIN bench_providers b ON b.n = s.g %% %(providers)s"
            " JOIN bench_users u ON u.n = %(providers)s + s.g %% %(buyers)s",
            params={
                "n": p["threads"],
                "seconds": span_seconds,
                "providers": p["providers"],
                "buyers": p["providers"] * 2,
                "start": span_start,
                "now": now,
            },
            values={
                "provider_id": "b.id",
                "buyer_id": "u.id",
                "subject": text(3, "s.g"),
                "created_at": "CASE WHEN s.g = 0 THEN %(start)s ELSE %(start)s + make_interval(secs => s.opened) END",
                "last_message_at": "CASE WHEN s.g = 0 THEN %(now)s - interval '1 second'"
                " ELSE %(start)s + make_interval(secs => s.last) END",
            },
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_threads AS SELECT (row_number() OVER (ORDER BY t.id))::int - 1 AS n,"
            " t.id, t.buyer_id, t.created_at, t.last_message_at, b.user_id AS provider_user_id"
            " FROM message_threads t JOIN bench_providers b ON b.id = t.provider_id"
        )
        cursor.execute("ALTER TABLE bench_threads ADD PRIMARY KEY (n); ANALYZE bench_threads")
        cursor.execute("SELECT id FROM bench_threads WHERE n = 0")
        return cursor.fetchone()[0]


def generate_messages(cursor, p: dict, log, elapsed) -> int:
    """The deep thread's messages, then `messages` in each other thread; returns how many."""
    from django.db import transaction

    from marketplace_app.models import Message

    # The deep thread: evenly spaced from its opening to its last message.
    with transaction.atomic(using=MP):
        messages = insert_select(
            cursor,
            Message,
            source="bench_threads t, generate_series(0, %(m)s - 1) k WHERE t.n = 0",
            params={"m": p["deep_thread"]},
            values={
                "thread_id": "t.id",
                "body": text(12, "k"),
                "sender_id": "CASE WHEN k %% 2 = 1 THEN t.buyer_id ELSE t.provider_user_id END",
                "created_at": "t.created_at + (t.last_message_at - t.created_at) * k / (%(m)s - 1)",
            },
        )
    # The others: `messages` each from the buyer, the first and last at the thread's own times.
    per_chunk = max(1, CHUNK // p["messages"])
    for start, stop in chunks(p["threads"] - 1, per_chunk):
        with transaction.atomic(using=MP):
            messages += insert_select(
                cursor,
                Message,
                source="bench_threads t, generate_series(0, %(m)s - 1) k WHERE t.n > %(start)s AND t.n <= %(stop)s",
                params={"m": p["messages"], "start": start, "stop": stop},
                values={
                    "thread_id": "t.id",
                    "sender_id": "t.buyer_id",
                    "body": text(12, "t.n * 64 + k"),
                    "created_at": "CASE WHEN k = 0 THEN t.created_at WHEN k = %(m)s - 1 THEN t.last_message_at"
                    f" ELSE t.created_at + (t.last_message_at - t.created_at)"
                    f" * {pick('t.n * 64 + k', 1_000_000)} / 1000000.0 END",
                },
            )
        log(f"messages: {messages} ({elapsed()})")
    return messages
