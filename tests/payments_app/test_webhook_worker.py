"""End to end through a real worker: Stripe POSTs, the worker applies the event, once."""

import time

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app.models import StripeConnectAccount, StripeWebhookEvent
from tenant_app.models import Tenant
from tests.fakes.stripe_server import signed_delivery, stripe_event
from tests.payments_app.conftest import every_row
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def test_delivery_is_processed_by_the_worker(client, webhook_secret, celery_worker, settings):
    tenant = Tenant.objects.create(name="Sunny Kennels", slug="sunny")
    with tenant_context(tenant.pk):  # the tenant's row (row-level security)
        account = StripeConnectAccount.objects.create(
            stripe_account_id="acct_w", owner_type="tenant", owner_tenant=tenant
        )
    event = stripe_event(
        "account.updated",
        {
            "id": "acct_w",
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {"disabled_reason": None},
        },
    )
    body, header = signed_delivery(event, webhook_secret)
    for _ in range(2):  # delivered twice, as Stripe does
        assert (
            client.post(
                "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            ).status_code
            == 200
        )
    assert wait_until(lambda: StripeWebhookEvent.objects.get().status == "succeeded")
    assert StripeWebhookEvent.objects.count() == 1  # the duplicate delivery stored nothing new
    with tenant_context(tenant.pk):
        account.refresh_from_db()
    assert account.status == "enabled"


def queued_messages(settings, queue="webhooks"):
    """The messages waiting in a queue of the real Redis broker: (task name, positional args)."""
    import base64
    import json

    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = []
    for raw in client.lrange(f"{settings.CELERY_KEY_PREFIX}{queue}", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        messages.append((message["headers"]["task"], args))
    return messages


def test_a_burst_goes_out_as_one_batch_message_and_a_worker_processes_all_of_it(
    client, webhook_secret, start_celery_worker, settings
):
    from tests.payments_app.test_webhook_ingest import PublisherHeld

    accounts = []
    for i in range(5):
        tenant = Tenant.objects.create(name=f"Kennel {i}", slug=f"kennel-{i}")
        with tenant_context(tenant.pk):  # each tenant's row (row-level security)
            accounts.append(
                StripeConnectAccount.objects.create(
                    stripe_account_id=f"acct_b{i}", owner_type="tenant", owner_tenant=tenant
                )
            )
    with PublisherHeld():  # the publisher is busy: the deliveries queue up behind it
        for account in accounts:
            event = stripe_event(
                "account.updated",
                {
                    "id": account.stripe_account_id,
                    "object": "account",
                    "charges_enabled": True,
                    "payouts_enabled": True,
                    "details_submitted": True,
                    "requirements": {"disabled_reason": None},
                },
            )
            body, header = signed_delivery(event, webhook_secret)
            assert (
                client.post(
                    "/api/v1/payments/stripe/webhook",
                    body,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=header,
                ).status_code
                == 200
            )
    pks = list(StripeWebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    assert len(pks) == 5

    def mine():
        return [
            (task, args)
            for task, args in queued_messages(settings)
            if set(pks) & set(args[0] if isinstance(args[0], list) else args)
        ]

    assert wait_until(lambda: mine(), timeout=10)
    time.sleep(0.5)  # nothing else is on its way
    assert mine() == [("payments_app.tasks.process_stripe_events", [pks])]  # one message, every pk

    start_celery_worker()
    assert wait_until(lambda: set(StripeWebhookEvent.objects.values_list("status", flat=True)) == {"succeeded"})
    assert {a.status for a in every_row(StripeConnectAccount).filter(pk__in=[a.pk for a in accounts])} == {"enabled"}
    assert StripeWebhookEvent.objects.filter(attempts=1).count() == 5
