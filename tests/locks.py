"""Locks for concurrency tests: a table held locked by another session (to make a statement wait and its
timeout fire), and waiting until other sessions are blocked on a lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connections

from breederhq.databases import TENANT_DB
from tests.waiting import wait_until


@contextmanager
def table_locked(alias: str, table: str) -> Iterator[None]:
    """`table` held under an ACCESS EXCLUSIVE lock by another session (as the application role),
    so that any statement reading it waits until its statement timeout stops it. The test's own
    transaction must not hold a lock on the table yet: the other session would wait for it, and
    fail after its lock_timeout."""
    with psycopg.connect(**connections[alias].get_connection_params()) as other:
        other.execute("SET lock_timeout = '10s'")
        other.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        yield
        other.rollback()


def a_session_waits_for_a_lock(expected: int = 1, *, alias: str = TENANT_DB, timeout: float = 10.0) -> bool:
    """True once `expected` other sessions of the test database are blocked on a lock (polled, not
    timed); False after `timeout` seconds without."""

    def waiting() -> bool:
        with connections[alias].cursor() as cursor:
            # Inside a transaction the statistics views are a snapshot taken at first use.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] >= expected

    return wait_until(waiting, timeout=timeout, interval=0.025)
