"""/healthz reports each component separately; 503 names the one that is down."""

import pytest
from django.db import connections

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.mark.worker
def test_all_up_with_a_real_worker(client, celery_worker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "up"
    assert body["down"] == [] and body["degraded"] == []
    assert set(body["components"]) == {
        "database:default",
        "database:marketplace",
        "redis",
        "celery_worker",
        "email_provider",
    }
    assert body["components"]["email_provider"] == {"status": "up", "breaker": "closed", "failures": 0}
    assert celery_worker.hostname in body["components"]["celery_worker"]["workers"]


def test_no_worker_is_reported_by_name(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["celery_worker"]


def test_redis_down_is_named(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert "redis" in body["down"]
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["database:default"]["status"] == "up"
    assert body["components"]["email_provider"] == {"status": "unknown", "breaker": "unknown"}


@pytest.fixture
def marketplace_database_unreachable():
    connection = connections[MARKETPLACE_DB]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_a_database_down_is_named(client, marketplace_database_unreachable):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert "database:marketplace" in body["down"]
    assert "database:default" not in body["down"]
    assert "OperationalError" in body["components"]["database:marketplace"]["error"]
