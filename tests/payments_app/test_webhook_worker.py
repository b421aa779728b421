"""End to end through a real worker: Stripe POSTs, the worker applies the event, once."""

import time

import pytest

from config.database_routing import DATABASE_ALIASES
from payments_app.models import StripeConnectAccount, StripeWebhookEvent
from tenant_app.models import Tenant
from tests.fakes.stripe_server import signed_delivery, stripe_event

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_delivery_is_processed_by_the_worker(client, webhook_secret, celery_worker, settings):
    tenant = Tenant.objects.create(name="Sunny Kennels", slug="sunny")
    account = StripeConnectAccount.objects.create(stripe_account_id="acct_w", owner_type="tenant", owner_tenant=tenant)
    event = stripe_event("account.updated", {"id": "acct_w", "object": "account", "charges_enabled": True,
                                             "payouts_enabled": True, "details_submitted": True,
                                             "requirements": {"disabled_reason": None}})
    body, header = signed_delivery(event, webhook_secret)
    for _ in range(2):  # delivered twice, as Stripe does
        assert client.post("/api/v1/payments/stripe/webhook", body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header).status_code == 200
    assert wait_for(lambda: StripeWebhookEvent.objects.get().status == "succeeded")
    assert StripeWebhookEvent.objects.count() == 1  # the duplicate delivery stored nothing new
    account.refresh_from_db()
    assert account.status == "enabled"
