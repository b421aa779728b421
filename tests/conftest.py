"""Root fixtures: both test databases created and migrated as the owner role, then every test
connects as the application role, so row-level security is really exercised."""

from __future__ import annotations

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.db_roles import owner_credentials

pytest_plugins = [
    "tests.fixtures.celery_worker",
    "tests.fixtures.broker",
    "tests.fixtures.request_redis",
    "tests.fixtures.stripe",
    "tests.fixtures.browser",
    "tests.fixtures.demo",
]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock(), owner_credentials():
        databases = setup_databases(verbosity=verbosity, interactive=False, aliases=set(DATABASE_ALIASES))
    yield
    with django_db_blocker.unblock(), owner_credentials():
        teardown_databases(databases, verbosity=verbosity)


@pytest.fixture(autouse=True)
def _fresh_identity_cache():
    """Each test starts with an empty per-process identity cache: a rolled-back test transaction
    sends no post_save/post_delete, so entries could otherwise outlive the rows they came from."""
    from breederhq.api import identity_cache

    identity_cache.clear()
    yield
    identity_cache.clear()


@pytest.fixture(autouse=True)
def _fresh_search_statistics():
    """Each test starts with no search-term statistics read (marketplace_app/search_statistics.py):
    they are kept per process for minutes, and another test's catalogue is not this one's."""
    from marketplace_app import search_statistics

    search_statistics.forget()


@pytest.fixture(autouse=True)
def _request_redis_not_paused():
    """Each test starts with the request path's Redis not paused: a test that pointed it at an
    unreachable or silent server leaves this process leaving Redis alone for a few seconds
    (breederhq/request_redis.py), which would send the next test's reads the fail-safe way."""
    from breederhq import request_redis

    request_redis.resume()
    yield
    request_redis.resume()


@pytest.fixture(autouse=True)
def _email_breaker_closed():
    """Each test starts with the email provider's breaker closed and built from its settings: its
    state lives in Redis, and failures one test simulates must not open it for the next."""
    from breederhq.email_breaker import email_breaker

    email_breaker.cache_clear()
    try:
        storage = email_breaker()._state_storage
        storage._redis.delete(
            *(storage._namespace(part) for part in ("state", "fail_counter", "success_counter", "opened_at", "probe"))
        )
    except Exception:  # noqa: BLE001 - Redis down is some tests' subject; nothing to reset then
        pass
    yield
    email_breaker.cache_clear()
