"""/healthz reports each component separately; 503 names the one that is down."""

import pytest
from django.db import connections

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.tenancy import tenant_context
from tenant_app.models import Contact
from tests.api.conftest import bearer, send_json
from tests.factories.tenant import TenantFactory
from tests.waiting import wait_until

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


@pytest.fixture
def silent_redis(settings):
    """REDIS_URL names a socket that accepts connections and never answers (a hung Redis); the
    request path waits on it the short test timeout (tests/fixtures/request_redis.py)."""
    from breederhq import request_redis
    from tests.breederhq.test_redis_silent import SilentRedis
    from tests.fixtures.request_redis import point_request_redis

    server = SilentRedis(cap=60)
    point_request_redis(settings, f"redis://127.0.0.1:{server.port}/0")
    try:
        yield server
    finally:
        server.request_done.set()
        server.close()
        request_redis.reset()


def attempts(server) -> int:
    """The connections the server accepted, once each of them has ended (the client gave up)."""
    assert wait_until(lambda: server.accepted and len(server.connections) == server.accepted, timeout=60)
    return server.accepted


def test_a_silent_redis_is_named_after_one_attempt_bounded_by_the_health_timeout(client, settings, silent_redis):
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 0.3
    response = client.get("/healthz")
    silent_redis.request_done.set()
    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["celery_worker", "redis"]
    assert body["components"]["redis"]["error"].startswith(
        "no answer within 0.3 s (HEALTH_CHECK_TIMEOUT_SECONDS): TimeoutError"
    )
    # The worker check does not ask the same silent Redis again; the databases are checked as usual.
    assert body["components"]["celery_worker"] == {
        "status": "down",
        "error": "Redis unreachable, worker heartbeat unknown",
    }
    assert body["components"]["database:default"] == {"status": "up"}
    assert body["components"]["email_provider"] == {"status": "unknown", "breaker": "unknown"}
    assert attempts(silent_redis) == 1


def test_writes_that_do_not_need_redis_wait_on_a_silent_one_once_per_pause(settings, silent_redis):
    """The write throttles count in Redis and let a request through without it; after one command
    got no answer the request path leaves Redis alone (REQUEST_REDIS_PAUSE_SECONDS), so the next
    writes do not each wait a timeout on it."""
    settings.REQUEST_REDIS_PAUSE_SECONDS = 600  # the whole test stays inside one pause
    tenant = TenantFactory()
    api = bearer(tenant.owner_user)
    statuses = [
        send_json(api, "post", "/api/v1/contacts/", {"first_name": f"Kim {n}", "last_name": "Ng"}).status_code
        for n in range(3)
    ]
    silent_redis.request_done.set()
    assert statuses == [201, 201, 201]
    with tenant_context(tenant.pk):
        assert Contact.objects.filter(last_name="Ng").count() == 3
    assert attempts(silent_redis) == 1


def test_a_request_path_command_is_one_attempt_on_a_silent_redis(settings, silent_redis):
    """Outside a pause each command waits one timeout and gives up, it is not retried: redis-py's
    default for a client built without a URL retries ten times with sleeps in between, which the
    pause would not shorten (breederhq/request_redis.py)."""
    import redis

    from breederhq import request_redis

    settings.REQUEST_REDIS_PAUSE_SECONDS = 0  # no pause: each command goes to Redis
    for _ in range(2):
        with pytest.raises(redis.TimeoutError):
            request_redis.client().get("anything")
    silent_redis.request_done.set()
    assert attempts(silent_redis) == 2
