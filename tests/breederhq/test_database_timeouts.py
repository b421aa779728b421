"""PostgreSQL's own time limits on the application role's sessions (breederhq/db_timeouts.py): a
web connection carries a statement_timeout and an idle_in_transaction_session_timeout from its
first statement; a statement past it is cancelled and the API answers 503 problem+json; a session
idle in its transaction past it is ended by the server; a worker's sessions run with their own,
higher limits; migrations (the owner role) and maintenance commands with none."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
import pytest
from django.db import DatabaseError, connections, transaction
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.db_roles import owner_credentials
from breederhq.db_timeouts import MAINTENANCE, WORKER, is_database_timeout, session_limits, startup_options
from tests.waiting import wait_until


def limits(alias: str = TENANT_DB) -> tuple[str, str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')"
        )
        return cursor.fetchone()


@contextmanager
def web_limits(statement_ms: int, idle_ms: int, alias: str = TENANT_DB):
    """The connection's startup options with other web limits (as DATABASE_*_TIMEOUT_MS would give),
    for one block: the connection is reopened with them, and afterwards with the configured ones."""
    settings_dict = connections[alias].settings_dict
    saved = settings_dict["OPTIONS"].get("options")
    connections[alias].close()
    settings_dict["OPTIONS"]["options"] = startup_options(statement_ms, idle_ms, base=saved or "")
    try:
        yield
    finally:
        connections[alias].close()
        settings_dict["OPTIONS"]["options"] = saved


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
@pytest.mark.parametrize("alias", DATABASE_ALIASES)
def test_a_web_connection_starts_with_the_configured_limits(alias, settings):
    assert settings.DATABASE_STATEMENT_TIMEOUT_MS == 30_000
    assert settings.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS == 60_000
    assert limits(alias) == ("30s", "1min")


@pytest.mark.urls("tests.breederhq.db_timeout_urls")
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_a_statement_past_the_limit_in_a_request_is_a_503_problem():
    client = Client(raise_request_exception=False)
    with web_limits(200, 60_000):
        response = client.get("/api/v1/test/slow", {"seconds": "5"})
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "database_timeout"
        assert response["Retry-After"] == "5"
        # Within the limit the same view answers; the connection was not left broken.
        assert client.get("/api/v1/test/slow", {"seconds": "0"}).status_code == 200


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_a_statement_past_the_limit_is_cancelled():
    with web_limits(200, 60_000):
        with pytest.raises(DatabaseError) as cancelled:
            with connections[TENANT_DB].cursor() as cursor:
                cursor.execute("SELECT pg_sleep(5)")
        assert is_database_timeout(cancelled.value)
        assert limits() == ("200ms", "1min")


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_a_session_idle_in_its_transaction_is_ended_by_the_server():
    with web_limits(30_000, 300):
        with pytest.raises(DatabaseError) as ended:
            with transaction.atomic(using=TENANT_DB):
                with connections[TENANT_DB].cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pid = cursor.fetchone()[0]
                # Idle inside the transaction, until the server ends the session (seen from another one).
                with psycopg.connect(**connections[TENANT_DB].get_connection_params(), autocommit=True) as other:
                    assert wait_until(
                        lambda: not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
                    ), "the idle session was never ended"
                with connections[TENANT_DB].cursor() as cursor:
                    cursor.execute("SELECT 1")
        assert is_database_timeout(ended.value) or "idle-in-transaction" in str(ended.value)
    connections[TENANT_DB].close()
    assert limits() == ("30s", "1min")  # a fresh connection afterwards, with the configured limits


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_maintenance_and_worker_limits_are_per_session_and_restored():
    assert limits() == ("30s", "1min")
    with session_limits(MAINTENANCE):
        assert limits() == ("0", "0")
        connections[TENANT_DB].close()
        assert limits() == ("0", "0")  # a connection opened inside the block too
    assert limits() == ("30s", "1min")
    with session_limits(WORKER):
        assert limits() == ("15min", "10min")
    assert limits() == ("30s", "1min")


def test_migrations_run_as_the_owner_without_the_limits(django_db_blocker):
    with django_db_blocker.unblock(), owner_credentials([TENANT_DB]):
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute(
                "SELECT current_user, current_setting('statement_timeout'), "
                "current_setting('idle_in_transaction_session_timeout')"
            )
            user, statement, idle = cursor.fetchone()
    assert (statement, idle) == ("0", "0")
    assert user != connections[TENANT_DB].settings_dict["USER"]
    with django_db_blocker.unblock():
        assert limits() == ("30s", "1min")  # the application role again, with its limits


@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_a_worker_runs_with_its_own_higher_limits(celery_worker):
    from breederhq.tasks import database_session_limits

    reported = database_session_limits.delay().get(timeout=60)
    expected = {"statement_timeout": "15min", "idle_in_transaction_session_timeout": "10min"}
    assert reported == {alias: expected for alias in DATABASE_ALIASES}
    assert limits() == ("30s", "1min")  # the web process keeps its own


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
@pytest.mark.parametrize(
    "command, args, shown",
    [
        ("archive_messages", ["--batch-size", "1"], "worker (statement_timeout 15min)"),
        ("message_partitions", [], "maintenance (statement_timeout 0)"),
    ],
)
def test_long_management_commands_run_with_the_worker_or_maintenance_limits_not_the_webs(command, args, shown):
    """A command that can run for minutes is not cut off at the web's 30 s: the database itself
    reports the limits it ran under; afterwards the process is back to its own."""
    from io import StringIO

    from django.core.management import call_command

    assert limits() == ("30s", "1min")
    err = StringIO()
    call_command(command, *args, verbosity=2, stdout=StringIO(), stderr=err)
    assert f"database session limits: {shown}" in err.getvalue()
    assert limits() == ("30s", "1min")
