"""The staff dashboard: real numbers from a fixed number of aggregate queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.selectors import dashboard_get
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_enqueue
from breederhq.models import CrossTenantQueryAudit, MarketplaceDbOutboundEmail, OutboxMessage
from demo.data import load_demo_data
from marketplace_app import services as mp
from payments_app.models import StripeWebhookEvent
from tests.factories.marketplace import ProviderFactory, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def _event(n, status):
    StripeWebhookEvent.objects.create(
        stripe_event_id=f"evt_{n}", event_type="invoice.paid", stripe_created=timezone.now(), payload={}, status=status
    )


def _queries():
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        board = dashboard_get()
    return board, len(tenant_db), len(marketplace_db)


def test_numbers(groups):
    # Sunny Kennels' invoices in every state + one paid marketplace transaction
    load_demo_data(back_office=False)
    provider = ProviderFactory()
    mp.transaction_cancel(transaction_id=make_transaction(provider).pk)
    make_transaction(provider)  # pending, neither succeeded nor failed
    for n, status in enumerate(["succeeded", "succeeded", "succeeded", "dead"]):
        _event(n, status)
    failed = email_enqueue(
        using=MARKETPLACE_DB,
        event_key="w:1",
        template="welcome",
        to=["a@example.test"],
        context={"name": "A", "url": "u"},
    )
    MarketplaceDbOutboundEmail.objects.filter(pk=failed.pk).update(status="failed")
    OutboxMessage.objects.using(TENANT_DB).create(topic="t", target_db=MARKETPLACE_DB, status="stuck")
    old = OutboxMessage.objects.using(MARKETPLACE_DB).create(topic="t", target_db=TENANT_DB)
    OutboxMessage.objects.using(MARKETPLACE_DB).filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))

    board = dashboard_get()
    assert (board.transactions_total, board.transactions_succeeded, board.transactions_cancelled) == (3, 1, 1)
    assert board.success_rate == 50.0
    assert board.transaction_volume == ["65.00 USD"]
    states = {bar.label: bar.value for bar in board.invoice_states}
    assert states["paid"] == 2  # one tenant invoice, one marketplace invoice
    assert set(states) >= {"draft", "sent", "pending_confirmation", "paid", "partially_refunded", "void"}
    assert {bar.label: bar.value for bar in board.payment_split} == {"manual": 3}
    assert (board.webhook_total, board.webhook_failed, board.webhook_failure_rate) == (4, 1, 25.0)
    # Demo data queued eight: the thread's three messages, its invoice sent, claimed and confirmed,
    # and the payment's receipt to the buyer and notice to the provider.
    marketplace_emails = dict(board.emails["marketplace DB"])
    urls = marketplace_emails.pop("urls")
    assert marketplace_emails == {"queued": 8, "sending": 0, "delivery_unknown": 0, "failed": 1}
    listing = reverse("admin:breederhq_marketplacedboutboundemail_changelist")
    assert urls["delivery_unknown"] == listing + "?status__exact=delivery_unknown"
    assert urls["sending"] == listing + "?status__exact=sending"
    assert board.email_provider["breaker"] == "closed"
    assert board.outbox == {
        "tenant DB": {
            "stuck": 1,
            "pending_too_long": 0,
            "stuck_url": reverse("admin:breederhq_tenantdboutboxmessage_changelist") + "?stuck=yes",
        },
        "marketplace DB": {
            "stuck": 0,
            "pending_too_long": 1,
            "stuck_url": reverse("admin:breederhq_marketplacedboutboxmessage_changelist") + "?stuck=yes",
        },
    }
    assert CrossTenantQueryAudit.objects.using(TENANT_DB).filter(query_type="system:admin_dashboard").exists()


def test_a_constant_number_of_queries(groups):
    _, tenant_queries, marketplace_queries = _queries()
    load_demo_data()
    provider = ProviderFactory()
    for _ in range(20):
        make_transaction(provider)
    for n in range(20):
        _event(n, "failed")
    _, tenant_after, marketplace_after = _queries()
    assert (tenant_after, marketplace_after) == (tenant_queries, marketplace_queries)
    assert marketplace_queries == 4


def test_the_page_shows_charts(support_client):
    load_demo_data()
    response = support_client.get(reverse("backoffice:dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    for anchor in (
        'id="transactions"',
        'id="payment-split"',
        'id="invoice-states"',
        'id="webhooks"',
        'id="emails"',
        'id="outbox"',
        'class="fill"',
    ):
        assert anchor in body
    assert "<script" not in body.split('id="content"')[-1]  # CSS bars, nothing fetched from a CDN


def test_the_cross_tenant_read_names_the_staff_member(support_client):
    assert support_client.get(reverse("backoffice:dashboard")).status_code == 200
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:admin_dashboard")
    assert (read.user_id, read.target_tenant_id, read.reason) == (
        support_client.user.pk,
        0,
        "read-only scan asked by staff",
    )


def test_a_scheduled_job_still_reads_as_nobody():
    from breederhq.crossdb_check import run_crossdb_check

    run_crossdb_check()
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:crossdb_check")
    assert (read.user_id, read.reason) == (None, "read-only scan by a scheduled job")


def test_an_open_email_breaker_and_the_emails_in_doubt_are_shown_with_links(
    support_client, settings, tmp_path, monkeypatch
):
    from breederhq.email import email_send
    from breederhq.email_breaker import email_breaker
    from breederhq.models import TenantDbOutboundEmail

    settings.EMAIL_BACKEND = "tests.fakes.email_backend.FlakyFileBackend"
    settings.EMAIL_BREAKER_FAIL_MAX = 1
    email_breaker.cache_clear()
    monkeypatch.setenv("FLAKY_EMAIL_DIR", str(tmp_path))
    (tmp_path / "down").write_text("")
    email = email_enqueue(
        using=TENANT_DB,
        event_key="w:open",
        template="welcome",
        to=["a@example.test"],
        context={"name": "A", "url": "u"},
    )
    email_send(using=TENANT_DB, pk=email.pk)  # fails: the breaker opens
    unknown = email_enqueue(
        using=TENANT_DB,
        event_key="w:unknown",
        template="welcome",
        to=["b@example.test"],
        context={"name": "B", "url": "u"},
    )
    TenantDbOutboundEmail.objects.filter(pk=unknown.pk).update(status="delivery_unknown")
    body = support_client.get(reverse("backoffice:dashboard")).content.decode()
    assert "circuit OPEN" in body
    listing = reverse("admin:breederhq_tenantdboutboundemail_changelist")
    assert f'<a href="{listing}?status__exact=delivery_unknown">1</a>' in body
    assert f'<a href="{listing}?status__exact=sending">0</a>' in body
