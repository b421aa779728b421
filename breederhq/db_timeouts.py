"""Time limits PostgreSQL enforces on every session of the application role, by kind of process.

* **web** (and beat, tests, management commands by default): `DATABASE_STATEMENT_TIMEOUT_MS`
  (30 s) and `DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS` (60 s). They travel in the connection's
  startup packet (`OPTIONS["options"] = "-c statement_timeout=... -c
  idle_in_transaction_session_timeout=..."`, see config/settings/base.py), so every connection
  Django opens has them from its first statement, whichever server it reaches (the embedded
  default, CI's, docker-compose's): no role setting to apply out of band.
* **worker** (Celery tasks): `DATABASE_WORKER_STATEMENT_TIMEOUT_MS` (15 min) and
  `DATABASE_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS` (10 min), set per session on each connection
  the task's thread opens (`connection_created`) and on those it already has (`task_prerun`).
  Long management commands (`LongRunningCommand`: reconcile_stripe, archive_messages,
  export_personal_data, load_demo_data) run with these too.
* **maintenance** (migrations as the owner role, restore's check, crossdb_check, message_partitions): no limit
  (0). `owner_credentials` swaps the startup options together with the user
  (breederhq.db_roles); the commands run in `session_limits(MAINTENANCE)`. Backup and restore
  themselves run pg_dump / pg_restore through DATABASE_ADMIN_URL, which these limits never touch.

A statement past its limit is cancelled (SQLSTATE 57014, "canceling statement due to statement
timeout"): in an API request the answer is a 503 problem+json `database_timeout`
(breederhq.api.problems). A session idle inside a transaction past its limit is terminated by
the server; Django's next use of the connection fails and the connection is replaced.
`statement_time_limit` (breederhq.statement_timeout) still narrows one block with SET LOCAL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, OutputWrapper
from django.db import DatabaseError, connections

from breederhq.databases import TENANT_DB

WEB, WORKER, MAINTENANCE = "web", "worker", "maintenance"

_local = threading.local()


def limits_for(kind: str) -> tuple[int, int]:
    """(statement_timeout, idle_in_transaction_session_timeout) in milliseconds; 0 is no limit."""
    if kind == WORKER:
        return settings.DATABASE_WORKER_STATEMENT_TIMEOUT_MS, settings.DATABASE_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS
    if kind == MAINTENANCE:
        return 0, 0
    return settings.DATABASE_STATEMENT_TIMEOUT_MS, settings.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS


def startup_options(statement_ms: int, idle_ms: int, *, base: str = "") -> str:
    """libpq `options` carrying both limits (after any options `base` already has)."""
    ours = f"-c statement_timeout={int(statement_ms)} -c idle_in_transaction_session_timeout={int(idle_ms)}"
    kept = " ".join(part for part in _without_ours(base).split() if part)
    return f"{kept} {ours}".strip()


def _without_ours(options: str) -> str:
    parts, kept, skip = options.split(), [], False
    for index, part in enumerate(parts):
        if skip:
            skip = False
            continue
        if part == "-c" and index + 1 < len(parts) and parts[index + 1].split("=")[0] in _NAMES:
            skip = True
            continue
        if part.startswith("-c") and part[2:].split("=")[0] in _NAMES:
            continue
        kept.append(part)
    return " ".join(kept)


_NAMES = {"statement_timeout", "idle_in_transaction_session_timeout"}


def is_database_timeout(error: BaseException) -> bool:
    """A database error caused by one of these limits: a statement cancelled by statement_timeout,
    or a session the server ended for idling in its transaction."""
    from psycopg.errors import IdleInTransactionSessionTimeout

    from breederhq.statement_timeout import is_statement_timeout

    if not isinstance(error, DatabaseError):
        return False
    return is_statement_timeout(error) or isinstance(error.__cause__, IdleInTransactionSessionTimeout)


def current_kind() -> str:
    return getattr(_local, "kind", WEB)


def use_session_limits(kind: str) -> None:
    """From now on, every connection this thread opens runs with the limits of `kind`; those it has
    open already are changed at once (session level: call it outside a transaction)."""
    _local.kind = kind
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _apply(connection, kind)


@contextmanager
def session_limits(kind: str) -> Iterator[None]:
    """`use_session_limits(kind)` for the block; the thread's previous limits come back after it."""
    previous = current_kind()
    use_session_limits(kind)
    try:
        yield
    finally:
        use_session_limits(previous)


def _apply(connection, kind: str) -> None:
    statement_ms, idle_ms = limits_for(kind)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('idle_in_transaction_session_timeout', %s, false)",
            [str(int(statement_ms)), str(int(idle_ms))],
        )


def _on_connection_created(sender, connection, **kwargs) -> None:
    kind = current_kind()
    if kind != WEB:  # the web limits came with the connection's startup options
        _apply(connection, kind)


def _on_task_prerun(sender=None, task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    if request is not None and getattr(request, "is_eager", False):
        return  # run in the caller's thread (a web request): keep the caller's limits
    if current_kind() != WORKER:
        use_session_limits(WORKER)


class LongRunningCommand(BaseCommand):
    """A management command that may run longer than a web request (a reconciliation, an archive, an
    export, demo data): it runs with the `session_limits_kind` limits (the worker's by default), not
    the web's 30 s that a command would otherwise get. At verbosity 2 it says which, as the database
    reports them."""

    session_limits_kind = WORKER

    def execute(self, *args, **options):
        with session_limits(self.session_limits_kind):
            if options.get("verbosity", 1) >= 2:
                with connections[TENANT_DB].cursor() as cursor:
                    cursor.execute("SHOW statement_timeout")
                    shown = cursor.fetchone()[0]
                err = OutputWrapper(options["stderr"]) if options.get("stderr") else self.stderr
                err.write(f"database session limits: {self.session_limits_kind} (statement_timeout {shown})")
            return super().execute(*args, **options)


def connect_signals() -> None:
    from celery.signals import task_prerun
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="breederhq-db-timeouts")
    task_prerun.connect(_on_task_prerun, dispatch_uid="breederhq-db-timeouts-worker", weak=False)
