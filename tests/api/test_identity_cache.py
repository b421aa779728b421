"""The per-process identity cache on reads (breederhq.api.identity_cache): a change made where this
process's signals cannot see it (another process: here, raw SQL) reaches reads within
API_IDENTITY_CACHE_SECONDS; writes and changes made through the ORM in this process apply at once."""

from __future__ import annotations

import time

import pytest
from django.db import connections

from breederhq.api import identity_cache
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app import services
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import M, person, provider_with_login
from tests.waiting import ManualClock

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
TTL = 1.0


@pytest.fixture
def short_ttl(settings, monkeypatch):
    """A TTL of one second on a clock that moves only when the test says so."""
    settings.API_IDENTITY_CACHE_SECONDS = TTL
    clock = ManualClock()
    monkeypatch.setattr(identity_cache, "clock", clock)
    return clock


def erase_behind_our_back(marketplace_user_id: int) -> None:
    with connections[MARKETPLACE_DB].cursor() as cursor:
        cursor.execute("UPDATE marketplace_users SET deleted_at = now() WHERE id = %s", [marketplace_user_id])


def test_an_erased_marketplace_user_loses_read_access_within_the_ttl(short_ttl):
    login, identity = person()
    client = bearer(login)
    assert client.get(f"{M}transactions/").status_code == 200
    erase_behind_our_back(identity.pk)
    # Another process erased them: this process still answers from its cache, for at most the TTL...
    assert client.get(f"{M}transactions/").status_code == 200
    # ...but a write reads the identity live and is refused at once,
    _, provider = provider_with_login()
    response = send_json(client, "post", f"{M}threads/", {"provider_id": provider.pk, "body": "hi"})
    assert (response.status_code, body(response)["code"]) == (403, "permission_denied")
    short_ttl.advance(TTL + 0.1)
    # and after the TTL reads are refused too.
    response = client.get(f"{M}transactions/")
    assert (response.status_code, body(response)["code"]) == (403, "permission_denied")


def test_an_erasure_in_this_process_applies_at_once(short_ttl):
    login, identity = person()
    client = bearer(login)
    assert client.get(f"{M}transactions/").status_code == 200
    services.marketplace_user_erase(user_id=identity.pk)
    assert client.get(f"{M}transactions/").status_code == 403


def test_a_deactivated_login_loses_read_access_within_the_ttl(short_ttl):
    login, _ = person()
    client = bearer(login)
    assert client.get(f"{M}transactions/").status_code == 200
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute("UPDATE users SET is_active = false WHERE id = %s", [login.pk])
    assert client.get(f"{M}transactions/").status_code == 200
    short_ttl.advance(TTL + 0.1)
    assert client.get(f"{M}transactions/").status_code == 401


def test_deactivating_through_the_orm_applies_at_once(short_ttl):
    login, _ = person()
    client = bearer(login)
    assert client.get(f"{M}transactions/").status_code == 200
    login.is_active = False
    login.save(update_fields=["is_active"])
    assert client.get(f"{M}transactions/").status_code == 401


def test_a_zero_ttl_reads_live_every_time(settings):
    settings.API_IDENTITY_CACHE_SECONDS = 0
    login, identity = person()
    client = bearer(login)
    assert client.get(f"{M}transactions/").status_code == 200
    erase_behind_our_back(identity.pk)
    assert client.get(f"{M}transactions/").status_code == 403


def test_a_verified_token_is_remembered_but_still_expires_and_a_forged_one_is_refused():
    """BreederHQJWTAuthentication checks a token's signature once per process; each later use still
    checks its expiry, and other bytes (a changed signature) are checked from scratch."""
    from datetime import timedelta

    from breederhq.api.auth import token_pair_for
    from tests.factories.tenant import UserFactory

    login, _ = person()
    access = token_pair_for(login).access_token
    access.set_exp(lifetime=timedelta(seconds=2))
    encoded = str(access)
    assert bearer(access=encoded).get(f"{M}transactions/").status_code == 200
    assert bearer(access=encoded).get(f"{M}transactions/").status_code == 200  # from the remembered check
    forged = encoded[:-4] + ("AAAA" if not encoded.endswith("AAAA") else "BBBB")
    assert bearer(access=forged).get(f"{M}transactions/").status_code == 401
    time.sleep(2.1)
    expired = bearer(access=encoded).get(f"{M}transactions/")
    assert expired.status_code == 401 and expired["Content-Type"] == "application/problem+json"
    assert bearer(UserFactory()).get(f"{M}transactions/").status_code == 403  # others unaffected
