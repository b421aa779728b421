"""Upkeep of the RANGE-partitioned `messages` table: monthly partitions ahead of time, archival.

Partitions are named `messages_pYYYY_MM` and cover [first of the month, first of the next month)
in UTC; `messages_default` catches anything outside them. Creating a partition is DDL on a table the
application role does not own, so it runs on a separate connection as the owner role.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import psycopg
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from psycopg import sql

from breederhq.databases import MARKETPLACE_DB
from breederhq.db_roles import app_role_name

DB = MARKETPLACE_DB
PARENT = "messages"
DEFAULT_PARTITION = "messages_default"
ARCHIVE_AFTER_YEARS = 2
# Any fixed number: serialises concurrent partition creators (beat overlap, a manual run).
_PARTITION_LOCK_KEY = 0x6D73675F70617274


@contextmanager
def owner_connection(alias: str = DB) -> Iterator[psycopg.Connection]:
    """A short-lived connection to the alias's database as the owner role, one transaction."""
    config = connections[alias].settings_dict
    params = {
        "dbname": config["NAME"],
        "user": settings.DATABASE_OWNER_USER,
        "password": settings.DATABASE_OWNER_PASSWORD,
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "application_name": "breederhq-partitions",
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        with conn.transaction():
            yield conn


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(first: date) -> str:
    return f"{PARENT}_p{first.year:04d}_{first.month:02d}"


def _bound(first: date) -> datetime:
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def list_partitions(alias: str = DB) -> dict[str, str]:
    """{partition name: its bound expression} for every partition of `messages`."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid WHERE parent.relname = %s",
            [PARENT],
        )
        return dict(cursor.fetchall())


def partition_of(*, message_id: int, created_at: datetime, alias: str = DB) -> str:
    """Which partition holds a message row (tableoid), for checks and tests."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {PARENT} WHERE id = %s AND created_at = %s",
            [message_id, created_at],
        )
        row = cursor.fetchone()
    return row[0] if row else ""


def ensure_message_partitions(*, months_ahead: int, now: datetime | None = None, alias: str = DB) -> list[str]:
    """Create the partitions for the current month through `months_ahead` months later, plus the
    default partition, when missing. Idempotent; returns the names it created.

    Rows that already sit in the default partition for a new month's range are moved into the new
    partition in the same transaction, before it is attached (PostgreSQL refuses to attach over
    them otherwise).
    """
    if months_ahead < 0:
        raise ValueError("months_ahead must be 0 or more")
    first = month_start(now or timezone.now().astimezone(UTC))
    created: list[str] = []
    app_role = sql.Identifier(app_role_name(alias))
    with owner_connection(alias) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK_KEY])
        cursor.execute("SELECT to_regclass(%s)", [DEFAULT_PARTITION])
        if cursor.fetchone()[0] is None:
            cursor.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                    sql.Identifier(DEFAULT_PARTITION), sql.Identifier(PARENT)
                )
            )
            created.append(DEFAULT_PARTITION)
        for step in range(months_ahead + 1):
            lower = add_months(first, step)
            name = partition_name(lower)
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is not None:
                continue
            table, parent, default = (sql.Identifier(n) for n in (name, PARENT, DEFAULT_PARTITION))
            low, high = _bound(lower), _bound(add_months(lower, 1))
            # Inserts routed to the default partition wait until the new partition is attached.
            cursor.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(default))
            cursor.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(table, parent)
            )
            cursor.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM {default} WHERE created_at >= %s AND created_at < %s "
                    "RETURNING id, created_at, thread_id, sender_id, body, read_at) "
                    "INSERT INTO {table} (id, created_at, thread_id, sender_id, body, read_at) "
                    "SELECT id, created_at, thread_id, sender_id, body, read_at FROM moved"
                ).format(default=default, table=table),
                [low, high],
            )
            cursor.execute(
                # DDL takes no bind parameters: the bounds go in as literals.
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    parent, table, sql.Literal(low.isoformat()), sql.Literal(high.isoformat())
                )
            )
            cursor.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(table, app_role))
            created.append(name)
    return created


def archive_cutoff(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    try:
        return now.replace(year=now.year - ARCHIVE_AFTER_YEARS)
    except ValueError:  # 29 February
        return now.replace(year=now.year - ARCHIVE_AFTER_YEARS, day=28)


_ARCHIVE_BATCH_SQL = f"""
WITH batch AS (
    SELECT id, created_at FROM {PARENT}
    WHERE created_at < %(cutoff)s
    ORDER BY created_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), moved AS (
    DELETE FROM {PARENT} AS m USING batch
    WHERE m.id = batch.id AND m.created_at = batch.created_at
    RETURNING m.id, m.created_at, m.thread_id, m.sender_id, m.body, m.read_at
)
INSERT INTO message_archive (id, created_at, thread_id, sender_id, body, read_at, archived_at)
SELECT id, created_at, thread_id, sender_id, body, read_at, now() FROM moved
"""


def archive_messages(
    *, batch_size: int = 1000, now: datetime | None = None, max_batches: int | None = None, alias: str = DB
) -> int:
    """Move messages older than two years to `message_archive`, `batch_size` rows per transaction.

    Each batch deletes and inserts in one statement inside one transaction, so a row is always in
    exactly one of the two tables, whatever stops the run. Returns how many rows moved.
    """
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")
    cutoff = archive_cutoff(now)
    moved = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(_ARCHIVE_BATCH_SQL, {"cutoff": cutoff, "limit": batch_size})
            count = cursor.rowcount
        moved += count
        batches += 1
        if count < batch_size:
            break
    return moved
