"""A table held locked by another session, to make a statement wait (and its timeout fire)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connections


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
