"""breederhq.db_adapters: timestamptz values are parsed by psycopg's C loader with Django's result; the
server-binding cursor sends the values apart and still goes through Django's cursor machinery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from django.db import connections
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader as PythonTimestamptzLoader

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_adapters import TIMESTAMPTZ_OID, fast_tz_loader, server_binding_cursor

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.mark.parametrize("alias", [TENANT_DB, MARKETPLACE_DB])
def test_every_connection_reads_timestamptz_with_the_fast_loader_and_djangos_result(alias):
    connection = connections[alias]
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert loader is fast_tz_loader(connection.timezone) and loader.timezone == connection.timezone
        cursor.execute(
            "SELECT '2026-03-01 12:00:00.5+00'::timestamptz, '2026-03-01 12:00:00+05:30'::timestamptz,"
            " '1999-12-31 23:59:59.999999-08'::timestamptz, NULL::timestamptz"
        )
        assert cursor.fetchone() == (
            datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC),
            datetime(2026, 3, 1, 6, 30, tzinfo=UTC),
            datetime(2000, 1, 1, 7, 59, 59, 999999, tzinfo=UTC),
            None,
        )
    value = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    with connection.cursor() as cursor:  # through Django's own parameter path too
        cursor.execute("SELECT %s::timestamptz", [value])
        (read,) = cursor.fetchone()
    assert read == value and read.tzinfo is UTC


def test_with_the_binary_package_the_parsing_is_not_the_python_loader():
    parser = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if psycopg.pq.__impl__ == "python":
        pytest.skip("pure-Python psycopg: there is no C loader to use")
    assert parser is not PythonTimestamptzLoader


def test_the_server_binding_cursor_sends_the_values_apart_through_djangos_cursor():
    from django.test.utils import CaptureQueriesContext

    connection = connections[TENANT_DB]
    sql = "SELECT %s::text || ' ' || %s::text AS greeting"
    seen = []
    with (
        CaptureQueriesContext(connection) as captured,
        connection.execute_wrapper(lambda execute, *args: seen.append(args[0]) or execute(*args)),
        server_binding_cursor(connection) as cursor,
    ):
        for n in range(3):
            cursor.execute(sql, [f"hello {n}", "it's -- not SQL"])
            assert cursor.fetchone() == (f"hello {n} it's -- not SQL",)
    assert seen == [sql] * 3  # the connection's execute wrappers ran (metrics, the tenancy check)
    # Logged as PostgreSQL received it: placeholders, the values sent apart (a ClientCursor would log
    # them quoted into the text).
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT $1::text || ' ' || $2::text AS greeting"] * 3


def test_the_server_binding_cursor_raises_djangos_errors():
    from django.db import DataError

    connection = connections[TENANT_DB]
    with pytest.raises(DataError), server_binding_cursor(connection) as cursor:
        cursor.execute("SELECT %s::int", ["not a number"])
