"""Sign-in is throttled per client IP; writes per user and per IP; reads are not counted."""

from __future__ import annotations

import json
import random

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tests.api.conftest import PASSWORD, body, sign_in
from tests.factories.tenant import ContactFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def fresh_ip() -> str:
    # Counters live in the shared Redis for a minute: a new address per test keeps runs independent.
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture
def rates(settings):
    def set_rates(**overrides):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides},
        }

    return set_rates


def test_sign_in_attempts_are_limited_per_ip(two_tenants, rates):
    a, _ = two_tenants
    rates(auth_ip="3/min")
    ip, other_ip = fresh_ip(), fresh_ip()
    attempt = lambda addr, password: Client(REMOTE_ADDR=addr).post(  # noqa: E731
        "/api/v1/auth/token/",
        json.dumps({"email": a.owner_user.email, "password": password}),
        content_type="application/json",
    )
    assert [attempt(ip, "wrong").status_code for _ in range(3)] == [401, 401, 401]
    blocked = attempt(ip, PASSWORD)
    assert blocked.status_code == 429
    assert (body(blocked)["code"], blocked["Content-Type"]) == ("throttled", "application/problem+json")
    assert int(blocked["Retry-After"]) > 0
    assert attempt(other_ip, PASSWORD).status_code == 200


def test_writes_are_limited_per_user_and_reads_are_free(two_tenants, rates):
    a, _ = two_tenants
    rates(write_user="2/min")
    access = sign_in(a.owner_user)["access"]
    client = Client(REMOTE_ADDR=fresh_ip(), headers={"Authorization": f"Bearer {access}"})
    with tenant_context(a.pk):
        ContactFactory(tenant=a)
    payload = json.dumps({"last_name": "X"})
    codes = [client.post("/api/v1/contacts/", payload, content_type="application/json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert [client.get("/api/v1/contacts/").status_code for _ in range(5)] == [200] * 5


def test_writes_are_limited_per_ip_across_users(two_tenants, rates):
    a, b = two_tenants
    rates(write_ip="1/min")
    ip = fresh_ip()
    first = Client(REMOTE_ADDR=ip, headers={"Authorization": f"Bearer {sign_in(a.owner_user)['access']}"})
    second = Client(REMOTE_ADDR=ip, headers={"Authorization": f"Bearer {sign_in(b.owner_user)['access']}"})
    payload = json.dumps({"last_name": "X"})
    assert first.post("/api/v1/contacts/", payload, content_type="application/json").status_code == 201
    assert second.post("/api/v1/contacts/", payload, content_type="application/json").status_code == 429


def test_the_counter_is_one_integer_per_window_in_redis(rates):
    """O(1) per request: an INCR on this window's counter, not a list of every request's time."""
    from django.conf import settings

    from breederhq.request_redis import client as _client

    rates(public_read_ip="5/min")
    ip = fresh_ip()
    client = Client(REMOTE_ADDR=ip)
    assert [client.get("/api/v1/marketplace/listings/").status_code for _ in range(3)] == [200] * 3
    keys = _client().keys(f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:throttle_public_read_ip_{ip}:*")
    assert len(keys) == 1
    assert int(_client().get(keys[0])) == 3
    assert 60 < _client().ttl(keys[0]) <= 120


@pytest.mark.parametrize(("seconds_into_window", "status", "retry_after"), [(10.0, 429, "28"), (45.0, 200, None)])
def test_the_previous_window_still_counts_while_it_slides_out(
    rates, monkeypatch, seconds_into_window, status, retry_after
):
    """A client that used its whole allowance at the end of one window is not handed a fresh one
    the moment the next window starts; Retry-After says when the estimate drops under the rate.
    The throttle's clock is pinned, so the answer at each moment is exact."""
    import time

    from django.conf import settings

    from breederhq.api.throttling import PublicReadIPThrottle
    from breederhq.request_redis import client as _client

    rates(public_read_ip="4/min")
    ip = fresh_ip()
    window = int(time.time() // 60)
    monkeypatch.setattr(PublicReadIPThrottle, "timer", staticmethod(lambda: window * 60 + seconds_into_window))
    _client().set(
        f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:throttle_public_read_ip_{ip}:{window - 1}", 8, ex=120
    )
    answer = Client(REMOTE_ADDR=ip).get("/api/v1/marketplace/listings/")
    # The estimate is previous * (1 - elapsed/60) + current: 8 * 50/60 + 1 = 7.7 > 4 at 10 s, refused
    # until 8 * (1 - t/60) + 1 <= 4, t = 37.5 s, so Retry-After is 28 (rounded up); 8 * 15/60 + 1 = 3 at 45 s.
    assert answer.status_code == status
    assert answer.get("Retry-After") == retry_after


def test_an_unreachable_redis_lets_requests_through(rates, request_redis_unreachable, caplog):
    rates(public_read_ip="1/min")
    client = Client(REMOTE_ADDR=fresh_ip())
    assert [client.get("/api/v1/marketplace/listings/").status_code for _ in range(3)] == [200] * 3
    assert "Redis unreachable" in caplog.text
