"""The check's modes, job name, lock key and settle time, and its two SQL helpers."""

from __future__ import annotations

from datetime import timedelta

from django.db import connections

from breederhq.databases import TENANT_DB

#: The key, in an outbox message's payload, that marks it as a deliberate demo fault (its value says
#: why): listed by the check, not counted as a problem (set by demo/data.py).
DEMO_FAULT_KEY = "demo_fault"

FULL, INCREMENTAL = "full", "incremental"
#: The job name its checkpoints and its lock are kept under.
JOB = "crossdb_check"
#: An incremental run looks at rows changed up to this long before it starts, not later: a row
#: written by a transaction still open at the start has an `updated_at` from before the start, and is
#: seen by the next run. (A transaction open longer than this is caught by the nightly full pass.)
SETTLE = timedelta(minutes=5)
#: pg_try_advisory_lock key of a running check (the tenant database): one run at a time, whoever
#: starts it (beat, manage.py); released by PostgreSQL if the process dies.
LOCK_KEY = 0x63726F7373646201  # "crossdb" + 1
_EPOCH = "1970-01-01T00:00:00+00:00"


def _rows(alias: str, sql: str, params=()) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _quoted(name: str) -> str:
    return connections[TENANT_DB].ops.quote_name(name)
