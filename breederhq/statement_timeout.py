"""A time limit that PostgreSQL enforces on the reads of one block: the public searches.

    with statement_time_limit("marketplace", 1500, on_timeout=lambda: TimedOut(...)):
        rows = list(queryset)

Every statement the block sends on that connection travels as `SET LOCAL statement_timeout = N;
<statement>` in one simple-query message (Django's default client-side-binding cursor), so the limit
costs no extra round trip. With autocommit on (as the API reads), PostgreSQL runs such a message as
one implicit transaction and the limit ends with it. Inside a transaction (a caller's atomic block, a
test) the block runs in a savepoint that is always rolled back, since only a rollback ends a `SET
LOCAL` before the transaction does (a released savepoint passes it on to the transaction), then
released: the reads keep their rows, the transaction neither the limit, nor, after a cancel, an
aborted state, nor a deeper subtransaction. So the block may only read: a statement other than
SELECT, WITH or SHOW is refused (TypeError) before it is sent.

A statement stopped by the limit raises `on_timeout()` (chained to PostgreSQL's error). A statement
cancelled otherwise (an operator's `pg_cancel_backend`) stays the database error it is. Both share
one SQLSTATE (57014), so they are told apart by PostgreSQL's message: the server's `lc_messages`
must be English (its default, and the Docker image's); otherwise a timeout is a 500.

The limit's execute wrapper is the innermost: wrappers entered before the block (the request
metrics) see each statement without its `SET LOCAL`; Django's query log shows what PostgreSQL
received, with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import Error, OperationalError, connections, transaction
from psycopg import ClientCursor
from psycopg.errors import QueryCanceled

#: How the statements a limited block may send begin.
_READS = ("SELECT", "WITH", "SHOW", "(SELECT")


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
        if not sql.lstrip()[:7].upper().startswith(_READS):
            raise TypeError(f"statement_time_limit blocks only read: {sql[:60]!r}")
        result = execute(prefix + sql, params, many, context)
        raw.nextset()  # past SET's empty result, to the statement's own
        return result

    connection = connections[alias]
    savepoint = transaction.savepoint(using=alias) if not connection.get_autocommit() else None
    try:
        with connection.execute_wrapper(limited):
            yield
    except BaseException as error:
        if savepoint is not None:
            _rollback_and_release(connection, savepoint, raising=False)
        if isinstance(error, OperationalError) and is_statement_timeout(error):
            raise on_timeout() from error
        raise
    if savepoint is not None:
        _rollback_and_release(connection, savepoint, raising=True)


def _rollback_and_release(connection, savepoint: str, *, raising: bool) -> None:
    """What Django's atomic does when a block fails: roll back to the savepoint, then release it.
    An error inside the block (which an ORM write marks the transaction for) is undone by the
    rollback. When that fails too (the connection lost), the caller's transaction is marked for
    rollback; the error is raised unless the block's own error is on its way."""
    connection.needs_rollback = False
    try:
        connection.savepoint_rollback(savepoint)
        connection.savepoint_commit(savepoint)
    except Error:
        if connection.in_atomic_block:
            connection.needs_rollback = True
        if raising:
            raise
