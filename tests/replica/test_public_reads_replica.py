"""Public marketplace reads from a real streaming replica (breederhq/read_replica.py).

The harness starts its own primary and hot standby (tests/replica/pair.py) from the PostgreSQL
binaries the suite uses, and points a test-local pair of aliases at them: `replica_primary` stands
for the marketplace primary and `replica_standby` for `marketplace_replica`. Pausing the standby's
replay (`pg_wal_replay_pause()`) lets a row exist on one side only, which shows which database a
view read.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.db.utils import load_backend
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from breederhq import read_replica
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import MarketplaceUser, Provider, ServiceListing
from tests.api.conftest import bearer
from tests.factories.tenant import UserFactory
from tests.pg_binaries import find_bindir
from tests.replica.pair import PostgresPair

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

PRIMARY, STANDBY = "replica_primary", "replica_standby"
SEARCH = "/api/v1/marketplace/listings/"
PROVIDERS = "/api/v1/marketplace/providers/"


def _ip() -> str:
    """A client IP no other test (nor an earlier run: the marks live in Redis) used."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def _request(ip: str):
    request = RequestFactory().get("/", REMOTE_ADDR=ip)
    request.user = AnonymousUser()
    return request


def _schema_of_marketplace_test_database(bindir: str) -> str:
    from django.conf import settings

    config = connections[MARKETPLACE_DB].settings_dict
    result = subprocess.run(
        [
            f"{bindir}/pg_dump",
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "-h",
            config["HOST"] or "127.0.0.1",
            "-p",
            str(config["PORT"] or 5432),
            "-U",
            settings.DATABASE_OWNER_USER,
            config["NAME"],
        ],
        capture_output=True,
        text=True,
        env={"PGPASSWORD": settings.DATABASE_OWNER_PASSWORD, "PATH": "/usr/bin:/bin"},
    )
    if result.returncode:
        raise RuntimeError(f"pg_dump of the marketplace test database failed: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def pair(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server_major = connections[MARKETPLACE_DB].pg_version // 10000
        bindir = find_bindir(server_major)
        if bindir is None:
            pytest.skip(
                "no PostgreSQL binaries found (initdb, pg_ctl, pg_basebackup, pg_dump, psql): looked at "
                "`pg_config --bindir`, /usr/lib/postgresql/*/bin and the pgserver package"
            )
        schema = _schema_of_marketplace_test_database(bindir)
        connections.close_all()
    started = PostgresPair(bindir)
    try:
        started.start(schema_sql=schema)
        yield started
    finally:
        started.stop()


@pytest.fixture
def replica(pair):
    """The test-local aliases and the settings naming them. Their connections are set for this thread
    only and stay out of the configured aliases, so the test case neither wraps them in its
    transaction (the primary's writes must commit to reach the standby) nor refuses them."""
    for alias, port in ((PRIMARY, pair.primary_port), (STANDBY, pair.standby_port)):
        config = connections.configure_settings({"default": pair.django_settings(port=port)})["default"]
        connections[alias] = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    read_replica.forget_health()
    pair.value("SELECT pg_wal_replay_resume()", port=pair.standby_port)
    with override_settings(
        MARKETPLACE_REPLICA_ALIAS=STANDBY,
        MARKETPLACE_REPLICA_PRIMARY_ALIAS=PRIMARY,
        MARKETPLACE_REPLICA_MAX_LAG_SECONDS=30,
        MARKETPLACE_REPLICA_PROBE_SECONDS=0,
        MARKETPLACE_REPLICA_RETRY_SECONDS=0,
        MARKETPLACE_REPLICA_STICKY_SECONDS=30,
    ):
        yield pair
    read_replica.forget_health()
    for alias in (PRIMARY, STANDBY):
        connections[alias].close()
        del connections[alias]
    if not (pair.standby_dir / "postmaster.pid").exists():
        pair.start_standby()
    pair.value("SELECT pg_wal_replay_resume()", port=pair.standby_port)


def _listing(title: str) -> ServiceListing:
    """An active listing of a new provider, written on the test primary."""
    tag = uuid.uuid4().hex[:8]
    person = MarketplaceUser.objects.using(PRIMARY).create(
        email=f"p-{tag}@example.test", display_name=f"P {tag}", kind=MarketplaceUser.Kind.SERVICE_PROVIDER
    )
    provider = Provider.objects.using(PRIMARY).create(
        user_id=person.pk,
        kind=Provider.Kind.SERVICE_PROVIDER,
        business_name=f"Replica {title}",
        city="Austin",
        state="TX",
        currency="USD",
        payment_mode=Provider.PaymentMode.MANUAL,
    )
    listing = ServiceListing(
        provider_id=provider.pk,
        slug=f"{tag}-listing",
        title=title,
        category="grooming",
        state="TX",
        city="Austin",
        price_cents=5000,
        status=ServiceListing.Status.ACTIVE,
        published_at=timezone.now(),
        search_score=int(time.time()),
    )
    listing.save(using=PRIMARY)
    return listing


def _titles(client: Client, query: str, **extra) -> list[str]:
    response = client.get(SEARCH, {"q": query, "order": "newest"}, **extra)
    assert response.status_code == 200, response.content
    return [row["title"] for row in json.loads(response.content)["results"]]


def _pause(pair) -> None:
    pair.wait_replayed()
    pair.value("SELECT pg_wal_replay_pause()", port=pair.standby_port)


def test_a_write_on_the_primary_reaches_the_replica(replica):
    listing = _listing("Streamed shampoo")
    replica.wait_replayed()
    on_standby = ServiceListing.objects.using(STANDBY).get(pk=listing.pk)
    assert on_standby.title == "Streamed shampoo"
    assert replica.value("SELECT pg_is_in_recovery()", port=replica.standby_port) is True


def test_an_anonymous_search_and_detail_read_the_replica(replica):
    kept = _listing("Mirror trim kept")
    _pause(replica)
    # With replay paused: one row deleted on the primary stays on the replica alone, a new one is on
    # the primary alone.
    ServiceListing.objects.using(PRIMARY).filter(pk=kept.pk).delete()
    new = _listing("Mirror trim new")

    reader = Client(REMOTE_ADDR=_ip())
    assert _titles(reader, "mirror trim") == ["Mirror trim kept"]
    detail = reader.get(f"{SEARCH}{kept.slug}/")
    assert detail.status_code == 200 and json.loads(detail.content)["title"] == "Mirror trim kept"
    assert reader.get(f"{SEARCH}{new.slug}/").status_code == 404
    providers = json.loads(reader.get(PROVIDERS, {"q": "Replica Mirror trim"}).content)
    assert [row["business_name"] for row in providers["results"]] == ["Replica Mirror trim kept"]
    assert reader.get(f"{PROVIDERS}{kept.provider_id}/").status_code == 200
    assert reader.get(f"{PROVIDERS}{new.provider_id}/").status_code == 404

    replica.value("SELECT pg_wal_replay_resume()", port=replica.standby_port)
    replica.wait_replayed()
    assert _titles(reader, "mirror trim") == ["Mirror trim new"]


def test_a_client_that_wrote_reads_its_write_at_once_while_others_read_the_replica(replica):
    _pause(replica)
    writer_ip, reader_ip, refused_ip = _ip(), _ip(), _ip()
    writer = bearer(UserFactory())
    # A successful unsafe request (becoming a provider) marks the writer's IP and user.
    created = writer.post(
        "/api/v1/marketplace/providers/me/",
        json.dumps({"business_name": "Sticky Paws", "city": "Austin", "state": "TX"}),
        content_type="application/json",
        REMOTE_ADDR=writer_ip,
    )
    assert created.status_code == 201, created.content
    _listing("Sticky fresh coat")  # what the writer wrote, still on the primary alone

    assert _titles(Client(REMOTE_ADDR=writer_ip), "sticky fresh coat") == ["Sticky fresh coat"]
    assert _titles(writer, "sticky fresh coat", REMOTE_ADDR=_ip()) == ["Sticky fresh coat"]  # by its user
    assert _titles(Client(REMOTE_ADDR=reader_ip), "sticky fresh coat") == []

    # A refused write marks nothing.
    refused = Client(REMOTE_ADDR=refused_ip).post(
        "/api/v1/marketplace/providers/me/", "{}", content_type="application/json"
    )
    assert refused.status_code >= 400
    assert _titles(Client(REMOTE_ADDR=refused_ip), "sticky fresh coat") == []


def test_the_marks_expire_after_the_sticky_window(replica):
    _pause(replica)
    _listing("Window wash")
    request = _request(_ip())
    with override_settings(MARKETPLACE_REPLICA_STICKY_SECONDS=0.5, MARKETPLACE_REPLICA_MAX_LAG_SECONDS=0.5):
        read_replica.note_write(request)
        assert read_replica.recently_wrote(request)
        assert read_replica.choose_read_alias(request) == PRIMARY
        time.sleep(0.7)
        assert not read_replica.recently_wrote(request)
    assert read_replica.choose_read_alias(request) == STANDBY
    assert _titles(Client(REMOTE_ADDR=request.META["REMOTE_ADDR"]), "window wash") == []


def test_redis_unreachable_reads_the_primary(replica):
    from breederhq import request_redis

    request = _request(_ip())
    working, request_redis._redis = request_redis._redis, None
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            assert read_replica.recently_wrote(request)
            assert read_replica.choose_read_alias(request) == PRIMARY
    finally:
        request_redis._redis = working


def test_a_replica_lagging_beyond_the_limit_sends_reads_to_the_primary(replica):
    _pause(replica)
    time.sleep(1.2)  # the last transaction the replica replayed is older than the limit below...
    _listing("Lagging lather")  # ...and the primary is ahead of it
    reader = Client(REMOTE_ADDR=_ip())
    assert _titles(reader, "lagging lather") == []  # limit 30 s: the replica answers
    with override_settings(MARKETPLACE_REPLICA_MAX_LAG_SECONDS=1):
        assert read_replica.replica_lag_seconds(STANDBY, PRIMARY) > 1
        assert _titles(reader, "lagging lather") == ["Lagging lather"]
    replica.value("SELECT pg_wal_replay_resume()", port=replica.standby_port)
    replica.wait_replayed()
    assert read_replica.replica_lag_seconds(STANDBY, PRIMARY) == 0


def test_a_stopped_replica_sends_reads_to_the_primary_quickly(replica):
    _listing("Offline oatmeal bath")
    replica.wait_replayed()
    reader = Client(REMOTE_ADDR=_ip())
    assert _titles(reader, "offline oatmeal") == ["Offline oatmeal bath"]
    replica.stop_standby()
    with override_settings(MARKETPLACE_REPLICA_RETRY_SECONDS=60):
        started = time.monotonic()
        assert _titles(reader, "offline oatmeal") == ["Offline oatmeal bath"]
        elapsed = time.monotonic() - started
        providers = reader.get(PROVIDERS, {"q": "Replica Offline oatmeal"})
        assert providers.status_code == 200 and json.loads(providers.content)["count"] == 1
        # The failure is remembered: even with the standby back, this process does not try it again
        # before the retry time.
        replica.start_standby()
        assert read_replica.replica_usable(STANDBY, PRIMARY) is False
    read_replica.forget_health()
    replica.wait_replayed()
    assert read_replica.replica_usable(STANDBY, PRIMARY) is True
    # Not a speed target: a bound on the stall, far above the refused connection it is here and below
    # what a connection without a connect timeout could wait.
    assert elapsed < 10, elapsed


def test_a_replica_that_dies_after_the_probe_is_retried_on_the_primary(replica):
    listing = _listing("Vanishing velvet")
    replica.wait_replayed()
    assert read_replica.replica_usable(STANDBY, PRIMARY)
    with override_settings(MARKETPLACE_REPLICA_PROBE_SECONDS=60):
        read_replica.forget_health()
        assert read_replica.replica_usable(STANDBY, PRIMARY)  # remembered as usable for a minute
        connections[STANDBY].ensure_connection()
        replica.stop_standby()  # the open connection now fails on its next statement
        detail = Client(REMOTE_ADDR=_ip()).get(f"{SEARCH}{listing.slug}/")
    assert detail.status_code == 200, detail.content
    assert json.loads(detail.content)["title"] == "Vanishing velvet"


def test_without_a_replica_everything_reads_the_primary(replica):
    with override_settings(MARKETPLACE_REPLICA_ALIAS=""):
        request = Client(REMOTE_ADDR=_ip()).get("/healthz").wsgi_request
        assert read_replica.choose_read_alias(request) == PRIMARY
        assert read_replica.marketplace_read_alias() == MARKETPLACE_DB
