"""breederhq.statement_timeout: PostgreSQL stops a block's statements past their limit; the limit
travels with each statement (no round trip of its own) and nothing of it outlives the block."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import OperationalError, connections, transaction
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.db_adapters import server_binding_cursor
from breederhq.statement_timeout import is_statement_timeout, statement_time_limit
from marketplace_app.models import Provider
from tests.factories.marketplace import ProviderFactory
from tests.locks import table_locked
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

ALIAS = MARKETPLACE_DB

IN_AUTOCOMMIT_OR_A_TRANSACTION = pytest.mark.parametrize(
    "in_transaction",
    [
        pytest.param(
            False,
            id="autocommit, as the API reads",
            marks=pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True),
        ),
        pytest.param(True, id="inside a caller's transaction"),
    ],
)


class Stopped(Exception):
    pass


def limited(timeout_ms: int):
    return statement_time_limit(ALIAS, timeout_ms, on_timeout=lambda: Stopped(timeout_ms))


def current_timeout() -> str:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def sent_to(statements: list[str]):
    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    return connections[ALIAS].execute_wrapper(record)


@IN_AUTOCOMMIT_OR_A_TRANSACTION
def test_every_statement_of_the_block_carries_the_limit_in_its_own_message(in_transaction):
    assert connections[ALIAS].in_atomic_block is in_transaction
    before = current_timeout()
    assert before != "1234ms"
    sent: list[str] = []
    with limited(1234), sent_to(sent), CaptureQueriesContext(connections[ALIAS]) as logged:
        assert current_timeout() == "1234ms"
        assert Provider.objects.using(ALIAS).filter(business_name="nobody").count() == 0  # the ORM's too
    assert current_timeout() == before  # the limit ended with the block

    # What PostgreSQL received, as a wrapper inside the block sees it and as Django's query log
    # shows it: the SET and the statement in one message, one message per statement.
    assert sent[0] == "SET LOCAL statement_timeout = 1234; SHOW statement_timeout"
    assert sent[1].startswith("SET LOCAL statement_timeout = 1234; SELECT COUNT(*)")
    assert [query["sql"] for query in logged] == [sent[0], sent[1].replace("%s", "'nobody'")]


def test_wrappers_entered_before_the_block_see_the_statement_alone():
    # As the request metrics label it (breederhq/observability), by the statement, not by the SET.
    seen: list[str] = []
    with sent_to(seen), limited(1234):
        assert current_timeout() == "1234ms"
    assert [sql for sql in seen if "SAVEPOINT" not in sql] == ["SHOW statement_timeout"]


def test_no_limit_at_zero():
    before = current_timeout()
    sent: list[str] = []
    with limited(0), sent_to(sent):
        assert current_timeout() == before
    assert sent == ["SHOW statement_timeout"]


@IN_AUTOCOMMIT_OR_A_TRANSACTION
def test_a_statement_past_the_limit_raises_on_timeout_and_leaves_the_connection_as_it_was(in_transaction):
    before = current_timeout()
    with table_locked(ALIAS, "marketplace_providers"):
        with pytest.raises(Stopped) as stopped, limited(200):
            list(Provider.objects.using(ALIAS).all())
    assert stopped.value.args == (200,)
    assert isinstance(stopped.value.__cause__, OperationalError) and is_statement_timeout(stopped.value.__cause__)
    # The connection (and a caller's transaction: not left aborted) reads on, with no limit.
    assert current_timeout() == before
    assert Provider.objects.using(ALIAS).count() == 0


def test_a_statement_cancelled_by_an_operator_stays_a_database_error():
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    cancelled = threading.Event()
    failures: list[BaseException] = []

    def operator():
        try:
            with psycopg.connect(**connections[ALIAS].get_connection_params(), autocommit=True) as admin:

                def waits_on_the_lock() -> bool:
                    waiting = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                    return waiting.fetchone() == ("Lock",)

                if wait_until(waits_on_the_lock, timeout=10, interval=0.01):  # until our statement waits on the lock
                    admin.execute("SELECT pg_cancel_backend(%s)", [pid])
                    cancelled.set()
        except BaseException as failure:  # noqa: BLE001 - reported by the test below
            failures.append(failure)

    with table_locked(ALIAS, "marketplace_providers"):
        thread = threading.Thread(target=operator)
        thread.start()
        try:
            with pytest.raises(OperationalError) as error, limited(20_000):
                list(Provider.objects.using(ALIAS).all())
        finally:
            thread.join()
    assert not failures and cancelled.is_set()
    assert not is_statement_timeout(error.value)
    assert "canceling statement due to user request" in str(error.value)


def test_only_single_statements_on_the_default_cursor_can_carry_the_limit():
    connection = connections[ALIAS]
    with limited(1000):
        with server_binding_cursor(connection) as cursor, pytest.raises(TypeError, match="client-side-binding"):
            cursor.execute("SELECT %s::int", [1])
        with connection.cursor() as cursor, pytest.raises(TypeError, match="single statements"):
            cursor.executemany("SELECT %s::int", [[1], [2]])
        with pytest.raises(TypeError, match="single statements"):  # a server-side (named) cursor
            list(Provider.objects.using(ALIAS).iterator())


def test_a_limited_block_only_reads():
    with limited(1000), pytest.raises(TypeError, match="only read"):
        Provider.objects.using(ALIAS).filter(business_name="nobody").update(description="x")


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_inside_a_transaction_the_block_leaves_no_savepoint_limit_or_error_behind():
    before = current_timeout()
    with transaction.atomic(using=ALIAS), CaptureQueriesContext(connections[ALIAS]) as logged:
        for _ in range(2):
            with pytest.raises(ZeroDivisionError), limited(1234):
                assert current_timeout() == "1234ms"
                1 / 0  # noqa: B018 - not a database error
            with limited(1234):
                current_timeout()
        assert current_timeout() == before
        assert not connections[ALIAS].needs_rollback
        # Each savepoint rolled back, then released: the caller's transaction is no deeper.
        kinds = [query["sql"].split(' "')[0] for query in logged if "SAVEPOINT" in query["sql"]]
        assert kinds == ["SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"] * 4
        provider = ProviderFactory()  # the transaction still writes
    assert Provider.objects.using(ALIAS).filter(pk=provider.pk).exists()
