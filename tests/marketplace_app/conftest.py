"""Marketplace test fixtures."""

import pytest

from breederhq.db_roles import owner_credentials


@pytest.fixture(scope="session", autouse=True)
def _flush_as_owner():
    """transaction=True tests end with Django's flush (TRUNCATE), which the application role may not
    run: it has DML grants only. Flush as the owner role, as the test databases were migrated."""
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def fixture_teardown(self):
        with owner_credentials():
            original(self)

    TransactionTestCase._fixture_teardown = fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = original
