"""The app and tests connect as the application role, which cannot bypass row-level security."""

import pytest
from django.conf import settings
from django.db import connections

from breederhq.databases import DATABASE_ALIASES

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.mark.parametrize("alias", DATABASE_ALIASES)
def test_connection_uses_the_application_role(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole "
            "FROM pg_roles WHERE rolname = current_user"
        )
        user, superuser, bypassrls, createdb, createrole = cursor.fetchone()
    assert user == settings.DATABASES[alias].get("APP_USER", settings.DATABASES[alias]["USER"])
    assert user != settings.DATABASE_OWNER_USER
    assert (superuser, bypassrls, createdb, createrole) == (False, False, False, False)


@pytest.mark.parametrize("alias", DATABASE_ALIASES)
def test_application_role_owns_no_table_and_cannot_create_one(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE tableowner = current_user), "
            "count(*) FILTER (WHERE tableowner = %s) FROM pg_tables WHERE schemaname = 'public'",
            [settings.DATABASE_OWNER_USER],
        )
        owned_by_app, owned_by_owner = cursor.fetchone()
        assert owned_by_app == 0
        assert owned_by_owner > 0
        cursor.execute("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
        assert cursor.fetchone() == (False,)


def test_application_role_can_read_and_write_tenant_tables():
    from tenant_app.models import User

    User.objects.create(username="someone", email="someone@example.test")
    assert User.objects.filter(email="someone@example.test").count() == 1
