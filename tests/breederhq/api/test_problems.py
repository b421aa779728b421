"""Every API error is RFC 9457 problem+json with a code a client can act on."""

import pytest

from breederhq.databases import DATABASE_ALIASES

pytestmark = [pytest.mark.django_db(databases=list(DATABASE_ALIASES)), pytest.mark.urls("tests.breederhq.api.urls")]
URL = "/api/v1/test/tenants"


def assert_problem(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(f"/problems/{code}")
    assert body["title"] and body["detail"]
    return body


def test_field_errors_are_listed_per_field(client):
    body = assert_problem(
        client.post(URL, {"slug": "not a slug!"}, content_type="application/json"), 400, "validation_failed"
    )
    assert set(body["errors"]) == {"name", "slug"}
    assert "required" in body["errors"]["name"][0]


def test_malformed_json_is_a_400_problem(client):
    assert_problem(client.post(URL, "{not json", content_type="application/json"), 400, "malformed_request")


def test_wrong_method_is_a_405_problem(client):
    response = client.get(URL)
    assert_problem(response, 405, "method_not_allowed")


@pytest.mark.urls("config.urls")
def test_unknown_api_path_is_a_404_problem(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_domain_conflict_is_a_409_problem_with_context(client):
    body = assert_problem(
        client.post(URL, {"name": "A", "slug": "a", "fail_with": 409}, content_type="application/json"),
        409,
        "illegal_transition",
    )
    assert body["current_status"] == "active"
    assert body["requested_status"] == "draft"


def test_unsupported_media_type_is_a_415_problem(client):
    assert_problem(client.post(URL, "x", content_type="text/csv"), 415, "unsupported_media_type")
