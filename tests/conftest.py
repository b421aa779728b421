"""Root fixtures: both test databases created and migrated as the owner role, then every test
connects as the application role, so row-level security is really exercised."""

from __future__ import annotations

import pytest
from django.db import connections
from psycopg import sql

from breederhq.db_roles import app_role_name, owner_credentials
from config.database_routing import DATABASE_ALIASES

pytest_plugins = ["tests.fixtures.celery_worker"]


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock(), owner_credentials():
        databases = setup_databases(verbosity=verbosity, interactive=False, aliases=set(DATABASE_ALIASES))
        # transaction=True tests end with `flush` (TRUNCATE), run as the app role: allow it in the
        # test databases only. Production never grants the app role TRUNCATE.
        for alias in DATABASE_ALIASES:
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    sql.SQL("GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {}")
                    .format(sql.Identifier(app_role_name(alias))).as_string()
                )
    yield
    with django_db_blocker.unblock(), owner_credentials():
        teardown_databases(databases, verbosity=verbosity)


@pytest.fixture
def both_databases(db):
    """Marker-free way for a test to use both databases: `@pytest.mark.django_db(databases=...)`
    is still needed; this fixture only documents and checks it."""
    for alias in DATABASE_ALIASES:
        assert connections[alias].settings_dict["NAME"].startswith("test_")
