"""A time limit that PostgreSQL enforces on the reads of one block: the public searches.

    with statement_time_limit("marketplace", 1500, on_timeout=lambda: TimedOut(...)):
        rows = list(queryset)

Every statement the block sends on that connection travels as `SET LOCAL statement_timeout = N;
<statement>` in one simple-query message (Django's default client-side-binding cursor), so the limit
costs no extra round trip. With autocommit on (as the API reads), PostgreSQL runs such a message as
one implicit transaction and the limit ends with it. Inside a transaction (a caller's atomic block, a
test) the block runs in a savepoint that is always rolled back, since only a rollback ends a `SET
LOCAL` before the transaction does (a released savepoint passes it on to the transaction): the reads
keep their rows, the transaction neither the limit nor, after a cancel, an aborted state. So the
block must only read.

A statement stopped by the limit raises `on_timeout()` (chained to PostgreSQL's error). A statement
cancelled otherwise (an operator's `pg_cancel_backend`) stays the database error it is.

The limit's execute wrapper is the innermost: wrappers entered before the block (the request
metrics) see each statement without its `SET LOCAL`; Django's query log shows what PostgreSQL
received, with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import OperationalError, connections, transaction
from psycopg import ClientCursor
from psycopg.errors import QueryCanceled


def is_statement_timeout(error: BaseException) -> bool:
    """A database error raised because `statement_timeout` stopped the statement (not any cancel)."""
    cause = error.__cause__ if isinstance(error, OperationalError) else error
    return isinstance(cause, QueryCanceled) and "statement timeout" in (cause.diag.message_primary or "")


@contextmanager
def statement_time_limit(alias: str, timeout_ms: int, *, on_timeout: Callable[[], Exception]) -> Iterator[None]:
    """PostgreSQL stops any statement of the block on `alias` that runs past `timeout_ms` (0 or
    less: no limit), and the block raises `on_timeout()`. Read-only blocks: see the module."""
    if timeout_ms <= 0:
        yield
        return
    prefix = f"SET LOCAL statement_timeout = {int(timeout_ms)}; "

    def limited(execute, sql, params, many, context):
        raw = context["cursor"].cursor
        if many or not isinstance(raw, ClientCursor):
            # A server-side-binding cursor takes one statement per message, executemany one per row.
            raise TypeError("statement_time_limit applies to single statements on client-side-binding cursors")
        result = execute(prefix + sql, params, many, context)
        raw.nextset()  # past SET's empty result, to the statement's own
        return result

    connection = connections[alias]
    savepoint = transaction.savepoint(using=alias) if not connection.get_autocommit() else None
    try:
        with connection.execute_wrapper(limited):
            yield
    except OperationalError as error:
        if not is_statement_timeout(error):
            raise
        raise on_timeout() from error
    finally:
        if savepoint is not None:
            transaction.savepoint_rollback(savepoint, using=alias)
