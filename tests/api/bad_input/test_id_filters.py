"""Filters by a related row's id (`?contact=`, `?invoice=`) read whole numbers in the BIGINT range and
refuse anything else with a 400 naming the parameter; the schema says so (integer, int64, 1 to the
largest BIGINT), so a client generated from it never sends what the server refuses."""

from __future__ import annotations

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.money import BIGINT_MAX
from tests.api.bad_input.conftest import PROBLEM

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

REFUSED = ["1.8e308", "1e50", "1.5", "-1", "0", str(BIGINT_MAX + 1), "12abc", "NaN", "Infinity", "%00"]


@pytest.mark.parametrize("url,parameter", [("/api/v1/invoices/", "contact"), ("/api/v1/payments/", "invoice")])
@pytest.mark.parametrize("value", REFUSED)
def test_an_id_filter_refuses_what_is_not_a_row_id(world, url, parameter, value):
    response = world["client"].get(f"{url}?{parameter}={value}")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == PROBLEM and parameter in response.json()["errors"]


def test_an_id_filter_finds_the_rows_and_accepts_the_largest_bigint(world):
    client = world["client"]
    contact_id = world["contact"].pk
    found = client.get(f"/api/v1/invoices/?contact={contact_id}").json()["results"]
    assert [row["id"] for row in found] == [world["ids"]["invoice_id"]]
    assert client.get(f"/api/v1/invoices/?contact={BIGINT_MAX}").json()["results"] == []
    assert client.get(f"/api/v1/payments/?invoice={BIGINT_MAX}").json()["results"] == []


def test_the_schema_states_the_id_range(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    parameters = {
        parameter["name"]: parameter["schema"]
        for path in ("/api/v1/invoices/", "/api/v1/payments/")
        for parameter in schema["paths"][path]["get"]["parameters"]
    }
    for name in ("contact", "invoice"):
        assert parameters[name] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX}
