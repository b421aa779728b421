"""Two psycopg-level adjustments on the hot paths (measured with bench/): `timestamptz` values parsed
by psycopg's C loader, and a cursor that binds its parameters on the server.

`timestamptz` values parsed by psycopg's C loader instead of the pure-Python one Django installs.

Django (psycopg_any.register_tzloader) reads every `timestamptz` through a subclass of psycopg's
*Python* `TimestamptzLoader` (it sets the tzinfo to the connection's time zone), so even with
`psycopg[binary]` each datetime of every row is parsed in Python (Django ticket #36960; the C
class is final and cannot be subclassed). On a list page of 25-100 rows with two datetimes each
that was a tenth of the request's CPU (measured with bench/).

`FastTzLoader` gives the same result: it keeps Django's class (so Django's own check in
`create_cursor`, "is the connection's loader for my time zone?", still holds) but parses with the
loader psycopg registered for `timestamptz` - the C one when the binary package is installed -
through the public `AdaptersMap.get_loader`, then sets the tzinfo exactly as Django does.
`use_fast_timestamptz_loader` installs it on every new connection (`connection_created`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from psycopg import adapters as psycopg_adapters
from psycopg.postgres import types as postgres_types
from psycopg.pq import Format

TIMESTAMPTZ_OID = postgres_types["timestamptz"].oid


@lru_cache
def fast_tz_loader(timezone):
    """The loader class for one time zone (Django's SpecificTzLoader, parsing in C)."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    parser_class = psycopg_adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)

    class FastTzLoader(BaseTzLoader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = parser_class(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=self.timezone)

    FastTzLoader.timezone = timezone
    return FastTzLoader


def _install(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql" or not hasattr(connection.connection, "adapters"):
        return  # not psycopg 3
    connection.connection.adapters.register_loader("timestamptz", fast_tz_loader(connection.timezone))


def use_fast_timestamptz_loader() -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(_install, dispatch_uid="breederhq-fast-timestamptz-loader")


@contextmanager
def server_binding_cursor(connection) -> Iterator:
    """`connection.cursor()` (the health check, the connection's execute wrappers, query logging,
    error translation, the time zone of the timestamps read) over Django's server-side-binding
    cursor class instead of the client-side one Django uses by default, for a statement with a long
    text parameter on a hot path.

    The parameters travel apart from the SQL (the extended protocol), so psycopg does not quote and
    escape them into the statement, nor PostgreSQL lex them back out of it: for the Stripe webhook's
    inbox insert (2-3 KB of JSON) that is a fifth of the service function's CPU (measured with bench/).
    The SQL must be valid with server-side parameters: `%s` placeholders, one statement. Django's
    query log shows it as PostgreSQL receives it, with `$1`, `$2` for the values. (Nothing is
    prepared: Django leaves psycopg's prepare_threshold at None, which keeps poolers working.)
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What BaseDatabaseWrapper._cursor and the PostgreSQL backend's create_cursor do, with the other class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
        if connection.timezone != raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
            raw.adapters.register_loader("timestamptz", fast_tz_loader(connection.timezone))
    cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with cursor:  # closed as Django closes its cursors (an error while closing does not hide the first)
        yield cursor
