"""A provider's primary category: set at creation or later through its own API, shown publicly and
filterable in the public provider search; the allowed values are the listing categories."""

from __future__ import annotations

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import PROVIDER_CATEGORY_VALUES, ServiceListing
from tests.api.conftest import bearer, body, send_json
from tests.api.test_provider_self_service import MINE
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

PROVIDERS = "/api/v1/marketplace/providers/"


def test_the_database_allows_exactly_the_listing_categories():
    assert PROVIDER_CATEGORY_VALUES == ["", *ServiceListing.Category.values]


def become_provider(payload: dict):
    """A new provider's created profile and a client whose (new) token knows its marketplace identity."""
    user = UserFactory()
    created = send_json(bearer(user), "post", MINE, payload)
    assert created.status_code == 201, created.content
    return body(created), bearer(user)


def test_set_at_creation_changed_later_and_filtered_publicly():
    created, _ = become_provider({"business_name": "Tidy Paws", "primary_category": "grooming"})
    assert created["primary_category"] == "grooming"
    made, trainer = become_provider({"business_name": "Sit Stay"})
    assert made["primary_category"] == ""
    changed = send_json(trainer, "patch", MINE, {"primary_category": "training", "version": made["version"]})
    assert changed.status_code == 200 and body(changed)["primary_category"] == "training"

    found = body(Client().get(PROVIDERS, {"primary_category": "training"}))["results"]
    assert [row["business_name"] for row in found] == ["Sit Stay"]
    assert [
        row["business_name"] for row in body(Client().get(PROVIDERS, {"primary_category": "grooming"}))["results"]
    ] == ["Tidy Paws"]
    bad = Client().get(PROVIDERS, {"primary_category": "wizardry"})
    assert bad.status_code == 400 and "primary_category" in body(bad)["errors"]


@pytest.mark.parametrize("value", ["wizardry", "x" * 1000, "groom\x00ing", 7])
def test_a_bad_category_is_400_and_changes_nothing(value):
    made, client = become_provider({"business_name": "Tidy Paws"})
    response = send_json(client, "patch", MINE, {"primary_category": value, "version": made["version"]})
    assert response.status_code == 400 and "primary_category" in body(response)["errors"], response.content
    assert body(client.get(MINE))["primary_category"] == ""
