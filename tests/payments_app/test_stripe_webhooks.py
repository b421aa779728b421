"""The webhook endpoint verifies, stores and answers; processing is at-least-once with one effect."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.tenancy import tenant_context
from payments_app import inbox_processing, services
from payments_app.models import StripeConnectAccount, StripeWebhookEvent
from payments_app.webhook_handlers import HANDLERS
from tenant_app.models import Tenant
from tests.fakes.stripe_server import signed_delivery, stripe_event

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
URL = "/api/v1/payments/stripe/webhook"


def deliver(client, event, secret, **kwargs):
    body, header = signed_delivery(event, secret, **kwargs)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def account_event(account_id, *, charges=True, payouts=True, created=None, disabled_reason=None):
    return stripe_event(
        "account.updated",
        {
            "id": account_id,
            "object": "account",
            "charges_enabled": charges,
            "payouts_enabled": payouts,
            "details_submitted": True,
            "requirements": {"disabled_reason": disabled_reason},
        },
        created=created,
    )


@pytest.fixture
def connect_account():
    from breederhq.tenancy import tenant_context

    tenant = Tenant.objects.create(name="Sunny Kennels", slug="sunny")
    with tenant_context(tenant.pk):  # the tenant's row (row-level security)
        return StripeConnectAccount.objects.create(
            stripe_account_id="acct_sunny", owner_type="tenant", owner_tenant=tenant
        )


class TestVerification:
    def test_a_valid_delivery_is_stored_once_and_acknowledged(self, client, webhook_secret):
        event = account_event("acct_x")
        response = deliver(client, event, webhook_secret)
        assert response.status_code == 200
        assert response.json() == {"received": True, "event": event["id"], "duplicate": False}
        stored = StripeWebhookEvent.objects.get()
        assert (stored.stripe_event_id, stored.event_type, stored.object_id, stored.status) == (
            event["id"],
            "account.updated",
            "acct_x",
            "received",
        )
        assert stored.payload["data"]["object"]["id"] == "acct_x"

    @pytest.mark.parametrize("how", ["wrong secret", "tampered body", "stale timestamp", "no header"])
    def test_bad_signatures_are_refused_and_nothing_is_stored(self, client, webhook_secret, how):
        event = account_event("acct_x")
        if how == "wrong secret":
            body, header = signed_delivery(event, "whsec_someone_else")
        elif how == "stale timestamp":
            body, header = signed_delivery(event, webhook_secret, timestamp=int(time.time()) - 301)
        else:
            body, header = signed_delivery(event, webhook_secret)
        if how == "tampered body":
            body = body.replace(b'"charges_enabled":true', b'"charges_enabled":false')
        headers = {} if how == "no header" else {"HTTP_STRIPE_SIGNATURE": header}
        response = client.post(URL, body, content_type="application/json", **headers)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "webhook_signature_invalid"
        assert not StripeWebhookEvent.objects.exists()

    @pytest.mark.parametrize(
        "change", [{"id": None}, {"id": ""}, {"id": 42}, {"type": None}, {"created": "yesterday"}, {"created": True}]
    )
    def test_a_signed_payload_that_is_not_a_stripe_event_is_dead_lettered_not_refused(
        self, client, webhook_secret, change
    ):
        """Verified but malformed: answered 200 (a refusal makes Stripe retry for days) and kept
        dead-lettered with the reason. A null id is never stored as the string "None" (a second one
        would then pass for its duplicate)."""
        event = {**account_event("acct_x"), **change}
        response = deliver(client, event, webhook_secret)
        assert response.status_code == 200
        stored = StripeWebhookEvent.objects.get()
        assert stored.status == "dead" and stored.last_error
        assert stored.outcome.startswith(services.INVALID_EVENT_OUTCOME)
        assert stored.stripe_event_id not in ("None", "", "42")

    def test_a_duplicate_delivery_is_acknowledged_and_not_stored_twice(self, client, webhook_secret):
        event = account_event("acct_x")
        deliver(client, event, webhook_secret)
        response = deliver(client, event, webhook_secret)
        assert response.status_code == 200
        assert response.json()["duplicate"] is True
        assert StripeWebhookEvent.objects.count() == 1

    def test_get_is_refused(self, client):
        assert client.get(URL).status_code == 405


class TestProcessing:
    def test_account_updated_brings_the_account_up_to_date(self, client, webhook_secret, connect_account):
        deliver(client, account_event("acct_sunny"), webhook_secret)
        event = services.stripe_event_process(event_pk=StripeWebhookEvent.objects.get().pk)
        assert event.status == "succeeded"
        assert event.attempts == 1
        with tenant_context(connect_account.owner_tenant_id):
            connect_account.refresh_from_db()
        assert connect_account.status == "enabled"
        assert connect_account.can_take_payments

    def test_a_late_older_event_changes_nothing(self, client, webhook_secret, connect_account):
        now = int(time.time())
        newer = account_event("acct_sunny", disabled_reason="rejected.fraud", charges=False, created=now)
        older = account_event("acct_sunny", created=now - 60)
        for event in (newer, older):
            deliver(client, event, webhook_secret)
            services.stripe_event_process(event_pk=StripeWebhookEvent.objects.get(stripe_event_id=event["id"]).pk)
        with tenant_context(connect_account.owner_tenant_id):
            connect_account.refresh_from_db()
        assert connect_account.status == "disabled"
        assert connect_account.disabled_reason == "rejected.fraud"
        late = StripeWebhookEvent.objects.get(stripe_event_id=older["id"])
        assert late.status == "succeeded"
        assert late.outcome == "ignored: older than the last applied account.updated"

    def test_a_succeeded_event_is_never_applied_again(self, client, webhook_secret, monkeypatch):
        calls = []
        monkeypatch.setitem(HANDLERS, "test.counted", lambda event: calls.append(event.pk) or "counted")
        event = stripe_event("test.counted", {"id": "obj_1"})
        deliver(client, event, webhook_secret)
        pk = StripeWebhookEvent.objects.get().pk
        services.stripe_event_process(event_pk=pk)
        deliver(client, event, webhook_secret)  # Stripe redelivers
        services.stripe_event_process(event_pk=pk)
        assert calls == [pk]

    def test_a_failing_event_backs_off_then_is_dead_lettered_and_can_be_requeued(
        self, client, webhook_secret, monkeypatch, settings
    ):
        settings.STRIPE_WEBHOOK_MAX_ATTEMPTS = 3

        def broken(event):
            raise RuntimeError("downstream exploded")

        monkeypatch.setitem(HANDLERS, "test.broken", broken)
        deliver(client, stripe_event("test.broken", {"id": "obj_1"}), webhook_secret)
        pk = StripeWebhookEvent.objects.get().pk

        event = services.stripe_event_process(event_pk=pk)
        assert (event.status, event.attempts) == ("failed", 1)
        assert event.last_error == "RuntimeError: downstream exploded"
        assert event.next_attempt_at > timezone.now()
        assert pk not in services.stripe_events_due()  # still backing off

        for expected_attempts in (2, 3):
            StripeWebhookEvent.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
            assert pk in services.stripe_events_due()
            event = services.stripe_event_process(event_pk=pk)
            assert event.attempts == expected_attempts
        assert (event.status, event.next_attempt_at) == ("dead", None)
        assert pk not in services.stripe_events_due()

        monkeypatch.setitem(HANDLERS, "test.broken", lambda e: "fixed")
        services.stripe_event_requeue(event_pk=pk)
        event = services.stripe_event_process(event_pk=pk)
        assert (event.status, event.attempts, event.outcome) == ("succeeded", 1, "fixed")

    def test_an_event_nobody_handles_is_recorded_as_ignored(self, client, webhook_secret):
        deliver(client, stripe_event("customer.created", {"id": "cus_1"}), webhook_secret)
        event = services.stripe_event_process(event_pk=StripeWebhookEvent.objects.get().pk)
        assert event.status == "ignored"

    def test_backoff_grows_exponentially_with_jitter(self, settings):
        settings.STRIPE_WEBHOOK_RETRY_BASE_SECONDS = 30
        for attempts, ceiling in [(1, 30), (2, 60), (5, 480)]:
            for _ in range(20):
                delay = services.retry_delay(attempts)
                assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)


def test_redis_down_at_receipt_loses_nothing(client, webhook_secret, connect_account):
    from tests.fixtures.broker import broker_unreachable

    with broker_unreachable():
        response = deliver(client, account_event("acct_sunny"), webhook_secret)
    assert response.status_code == 200
    pk = StripeWebhookEvent.objects.get().pk
    # The beat sweep finds it and processing applies it.
    assert pk in services.stripe_events_due()
    services.stripe_event_process(event_pk=pk)
    with tenant_context(connect_account.owner_tenant_id):
        connect_account.refresh_from_db()
    assert connect_account.status == "enabled"


def test_a_worker_that_cannot_claim_the_event_steps_aside_without_counting_an_attempt(
    client, webhook_secret, monkeypatch
):
    """While one worker processes an event (its claim held across both of its transactions), a
    second message for the same event is a no-op: no attempt counted, no handler run. Without the
    claim, the second worker could count an attempt between the first one's count and its handler,
    and enough duplicates would dead-letter an event that never failed."""
    import psycopg
    from django.db import connections

    calls = []
    monkeypatch.setitem(HANDLERS, "test.claimed", lambda event: calls.append(event.pk) or "done")
    deliver(client, stripe_event("test.claimed", {"id": "obj_claim"}), webhook_secret)
    pk = StripeWebhookEvent.objects.get().pk
    settings_dict = connections[TENANT_DB].get_connection_params()
    with psycopg.connect(**settings_dict, autocommit=True) as first_worker:
        first_worker.execute("SELECT pg_advisory_lock(%s)", [inbox_processing._EVENT_CLAIM_NAMESPACE | pk])
        assert services.stripe_event_process(event_pk=pk) is None
        assert StripeWebhookEvent.objects.get(pk=pk).attempts == 0
        first_worker.execute("SELECT pg_advisory_unlock(%s)", [inbox_processing._EVENT_CLAIM_NAMESPACE | pk])
    event = services.stripe_event_process(event_pk=pk)
    assert (event.status, event.attempts, calls) == (StripeWebhookEvent.Status.SUCCEEDED, 1, [pk])
    # The claim is released afterwards: another session can take it at once.
    with psycopg.connect(**settings_dict, autocommit=True) as other:
        assert other.execute(
            "SELECT pg_try_advisory_lock(%s)", [inbox_processing._EVENT_CLAIM_NAMESPACE | pk]
        ).fetchone()[0]
