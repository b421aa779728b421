"""The webhook inbox on real PostgreSQL: one statement per delivery, duplicates race-safe against
each other and against a worker holding the event."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.jobs import publish_later
from payments_app import inbox, services
from payments_app.models import StripeWebhookEvent
from tests.fakes.stripe_server import signed_delivery, stripe_event
from tests.tenant_app.test_concurrency import Worker, wait_until_a_session_waits_for_a_lock

committed = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
in_test_transaction = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def delivery(secret, event=None):
    event = event or stripe_event(
        "account.updated", {"id": "acct_x", "object": "account", "charges_enabled": True}, account="acct_platform"
    )
    return event, *signed_delivery(event, secret)


def receive(body, header):
    return services.stripe_event_receive(payload=body, signature_header=header)


class PublisherHeld:
    """Keeps the publish-later thread busy on a stand-in task until released, so what the code under
    test queues meanwhile can be counted (and is published together afterwards)."""

    name = "tests.held"

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def delay(self, *args):
        self.started.set()
        self.release.wait(10)

    def __enter__(self):
        publish_later.publish_later(self)
        assert self.started.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()


@committed
def test_a_new_delivery_is_one_statement_in_autocommit_and_is_enqueued_at_once(webhook_secret):
    event, body, header = delivery(webhook_secret)
    db = connections[TENANT_DB]
    with PublisherHeld(), CaptureQueriesContext(db) as queries:
        before = publish_later.pending()
        received = receive(body, header)
        assert publish_later.pending() == before + 1  # enqueued directly: no transaction to wait for
    assert db.get_autocommit() and not db.in_atomic_block
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert queries[0]["sql"].startswith('INSERT INTO "stripe_webhook_events"')
    assert "ON CONFLICT" in queries[0]["sql"]
    # Bound on the server (breederhq.db_adapters.server_binding_cursor): the payload is not in the SQL.
    assert "$1" in queries[0]["sql"] and "acct_platform" not in queries[0]["sql"]
    assert (received.stripe_event_id, received.status, received.duplicate) == (event["id"], "received", False)

    stored = StripeWebhookEvent.objects.get()
    assert stored.pk == received.pk
    # The row means what the ORM's create(payload=event, ...) stored.
    assert stored.payload == json.loads(body) == event
    assert (stored.event_type, stored.stripe_account_id, stored.livemode, stored.object_id) == (
        "account.updated",
        "acct_platform",
        False,
        "acct_x",
    )
    assert stored.stripe_created.timestamp() == event["created"]
    assert (stored.status, stored.attempts, stored.last_error, stored.outcome, stored.processed_at) == (
        "received",
        0,
        "",
        "",
        None,
    )
    assert stored.received_at is not None and stored.next_attempt_at is not None


@committed
def test_a_duplicate_is_at_most_two_statements(webhook_secret):
    _, body, header = delivery(webhook_secret)
    first = receive(body, header)
    with CaptureQueriesContext(connections[TENANT_DB]) as queries:
        again = receive(body, header)
    assert len(queries) <= 2, [q["sql"] for q in queries]
    assert (again.pk, again.duplicate, again.status) == (first.pk, True, "received")
    assert StripeWebhookEvent.objects.count() == 1


@in_test_transaction
def test_a_failed_event_delivered_again_is_due_now_and_enqueued(webhook_secret, django_capture_on_commit_callbacks):
    _, body, header = delivery(webhook_secret)
    pk = receive(body, header).pk
    later = timezone.now() + timedelta(hours=1)
    StripeWebhookEvent.objects.filter(pk=pk).update(status="failed", attempts=2, next_attempt_at=later)

    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
        again = receive(body, header)
    assert (again.pk, again.duplicate, again.status) == (pk, True, "failed")
    assert len(queries) <= 2
    stored = StripeWebhookEvent.objects.get(pk=pk)
    assert stored.next_attempt_at <= timezone.now()
    assert (stored.status, stored.attempts) == ("failed", 2)  # only the next attempt moved
    assert pk in services.stripe_events_due()
    # Inside the caller's transaction the enqueue waits for its commit.
    assert [callback.args for callback in callbacks] == [(pk,)]


@in_test_transaction
@pytest.mark.parametrize("status", ["succeeded", "ignored", "dead"])
def test_a_finished_event_delivered_again_is_not_enqueued_nor_touched(
    webhook_secret, status, django_capture_on_commit_callbacks
):
    _, body, header = delivery(webhook_secret)
    pk = receive(body, header).pk
    StripeWebhookEvent.objects.filter(pk=pk).update(status=status, next_attempt_at=None)
    with django_capture_on_commit_callbacks() as callbacks:
        again = receive(body, header)
    assert (again.duplicate, again.status) == (True, status)
    assert callbacks == []
    assert StripeWebhookEvent.objects.get(pk=pk).next_attempt_at is None


@pytest.mark.slow
@committed
@pytest.mark.parametrize("first", ["rolls back", "commits"])
def test_concurrent_deliveries_of_one_event_store_one_row_and_one_non_duplicate(webhook_secret, first):
    """The test inserts the event in an open transaction; every thread's INSERT then waits on it, and
    all are released together when it ends."""
    event, body, header = delivery(webhook_secret)
    threads = [Worker(lambda: receive(body, header)) for _ in range(6)]
    with pytest.raises(RuntimeError) if first == "rolls back" else transaction.atomic():
        with transaction.atomic():
            mine = receive(body, header)
            for thread in threads:
                thread.start()
            wait_until_a_session_waits_for_a_lock(expected=len(threads))
            if first == "rolls back":
                raise RuntimeError("the first delivery's request failed")
    results = [thread.finish() for thread in threads]
    if first == "commits":
        results.append(mine)
    assert StripeWebhookEvent.objects.filter(stripe_event_id=event["id"]).count() == 1
    assert sum(not r.duplicate for r in results) == 1
    assert {r.pk for r in results} == {StripeWebhookEvent.objects.get().pk}


@committed
@pytest.mark.parametrize("worker_outcome", ["succeeds", "rolls back"])
def test_a_duplicate_waits_for_a_worker_holding_a_failed_event_and_respects_its_outcome(webhook_secret, worker_outcome):
    """A worker has the FAILED event locked while its handler runs. The redelivery's UPDATE waits for
    it, then re-checks the committed row: an event the worker finished is not touched, one it
    could not finish is due now."""
    _, body, header = delivery(webhook_secret)
    pk = receive(body, header).pk
    later = timezone.now() + timedelta(hours=1)
    StripeWebhookEvent.objects.filter(pk=pk).update(status="failed", attempts=1, next_attempt_at=later)

    redelivery = Worker(lambda: receive(body, header))
    with pytest.raises(RuntimeError) if worker_outcome == "rolls back" else transaction.atomic():
        with transaction.atomic():
            held = StripeWebhookEvent.objects.select_for_update().get(pk=pk)
            redelivery.start()
            wait_until_a_session_waits_for_a_lock()
            if worker_outcome == "rolls back":
                raise RuntimeError("handler exploded")
            held.status, held.next_attempt_at, held.processed_at = "succeeded", None, timezone.now()
            held.save()
    again = redelivery.finish()
    assert (again.pk, again.duplicate) == (pk, True)
    stored = StripeWebhookEvent.objects.get(pk=pk)
    if worker_outcome == "succeeds":
        assert (stored.status, stored.next_attempt_at) == ("succeeded", None)  # not bumped after the fact
    else:
        assert stored.status == "failed" and stored.next_attempt_at <= timezone.now()
        assert again.status == "failed"


@in_test_transaction
def test_a_delivery_over_http_sends_the_tenant_database_its_insert_and_nothing_else(webhook_secret):
    """TenantContextMiddleware resets the session settings only after a request whose statements
    could have set one (tests/tenant_app/test_requests.py shows a stray one still cleared): the
    webhook's inbox insert cannot, so the delivery costs one statement, not two."""
    from django.test import Client

    _, body, header = delivery(webhook_secret)
    with CaptureQueriesContext(connections[TENANT_DB]) as queries:
        response = Client().post(
            "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
    assert response.status_code == 200, response.content
    assert [q["sql"].split(" ", 2)[:2] for q in queries] == [["INSERT", "INTO"]]


@in_test_transaction
def test_the_inbox_carries_no_pattern_indexes_and_keeps_its_unique_event_id():
    """Migration 0006: every delivery's insert maintains the inbox's indexes, so it has only those a
    query uses. The `_like` (varchar_pattern_ops) ones Django adds for `unique=True`/`db_index=True`
    serve `LIKE 'prefix%'`, which nothing runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'stripe_webhook_events'")
        found = dict(cursor.fetchall())
    assert not [name for name, definition in found.items() if "pattern_ops" in definition]
    assert sorted(found) == sorted(
        [
            "stripe_webhook_events_pkey",
            "stripe_webhook_events_stripe_event_id_key",
            "stripe_events_due_idx",
            "stripe_events_type_idx",
            "stripe_events_object_idx",
        ]
    )
    assert found["stripe_webhook_events_stripe_event_id_key"].startswith("CREATE UNIQUE INDEX")
    assert found["stripe_events_object_idx"].endswith("USING btree (object_id)")


@pytest.mark.parametrize("default", [lambda: "x", None])
def test_the_inbox_insert_refuses_a_column_it_cannot_fill_once_for_every_row(monkeypatch, default):
    """The INSERT's defaults are prepared once: a later column with a callable default (a uuid, now)
    would get one value for every row, and a NOT NULL one without a default could not be filled. Both
    fail at once, naming the column, instead of storing wrong rows."""
    from django.db.models import NOT_PROVIDED

    field = StripeWebhookEvent._meta.get_field("attempts")
    monkeypatch.setattr(field, "default", default if default is not None else NOT_PROVIDED)
    monkeypatch.setattr(field, "empty_strings_allowed", False)
    with pytest.raises(TypeError, match="attempts"):
        inbox._inbox_statements.__wrapped__()


@committed
def test_a_delivery_after_postgresql_dropped_the_connection_reconnects_and_is_stored(webhook_secret):
    """The inbox insert's cursor runs Django's health check, as connection.cursor() does: a
    persistent connection PostgreSQL has closed (a restart, an idle timeout) is replaced, not a 500."""
    db = connections[TENANT_DB]
    db.ensure_connection()
    dropped = db.connection.info.backend_pid
    with connections[MARKETPLACE_DB].cursor() as cursor:  # the same role may end its own sessions
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [dropped])  # waits until it has ended
    db.health_check_done = False  # as at the start of each request with persistent connections
    event, body, header = delivery(webhook_secret)
    received = receive(body, header)
    assert db.connection.info.backend_pid != dropped
    assert StripeWebhookEvent.objects.get().stripe_event_id == event["id"] == received.stripe_event_id
