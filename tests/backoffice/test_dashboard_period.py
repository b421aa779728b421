"""The dashboard's period figures: counts for today, 7 or 30 days or custom dates, compared with the
period before, each linking to the change list of exactly those rows; bad input is a message, and
the number of queries does not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.dashboard_period import dashboard_period_get, preset_range
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_enqueue
from marketplace_app import services as mp
from marketplace_app.models import MarketplaceTransaction
from payments_app.models import StripeWebhookEvent
from tests.factories.marketplace import ProviderFactory, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
DASHBOARD = reverse("backoffice:dashboard")


def _event(n: int, status: str, *, days_ago: int = 0) -> None:
    event = StripeWebhookEvent.objects.create(
        stripe_event_id=f"evt_p{n}", event_type="invoice.paid", stripe_created=timezone.now(), payload={}, status=status
    )
    StripeWebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=days_ago))


def _data():
    provider = ProviderFactory()
    now = timezone.now()
    for _ in range(3):
        make_transaction(provider)
    for days_ago in (8, 20):  # in the previous 7 days; before both periods
        old = make_transaction(provider)
        MarketplaceTransaction.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=days_ago))
    mp.transaction_cancel(transaction_id=make_transaction(provider).pk)
    _event(1, "succeeded")
    _event(2, "dead", days_ago=9)
    _event(3, "failed", days_ago=9)
    email_enqueue(
        using=MARKETPLACE_DB,
        event_key="p:1",
        template="welcome",
        to=["a@example.test"],
        context={"name": "A", "url": "u"},
    )


def test_figures_compare_with_the_previous_period_and_link_to_exactly_their_rows(support_client):
    _data()
    response = support_client.get(DASHBOARD, {"period": "7d"})
    assert response.status_code == 200
    figures = {f.key: f for f in response.context["period_figures"]}
    assert (figures["transactions_created"].current, figures["transactions_created"].previous) == (4, 1)
    assert figures["transactions_created"].trend == "up" and figures["transactions_created"].delta == 3
    assert (figures["transactions_cancelled"].current, figures["transactions_cancelled"].trend) == (1, "up")
    assert (figures["webhooks_failed"].current, figures["webhooks_failed"].previous) == (0, 2)
    assert figures["webhooks_failed"].trend == "down"
    assert (figures["webhooks_received"].current, figures["webhooks_received"].previous) == (1, 2)
    assert figures["emails_marketplace_created"].current == 1
    assert figures["transactions_paid"].trend == "flat"
    body = response.content.decode()
    assert 'id="period-figures"' in body and "▲ +3" in body and "▼ -2" in body
    # The trend chart is SVG drawn here (nothing loaded for it): bars scaled to the larger count.
    assert figures["transactions_created"].chart_bars == [("previous", 2, 18, 6), ("current", 22, 0, 24)]
    assert figures["transactions_paid"].chart_bars == [("previous", 2, 23, 1), ("current", 22, 23, 1)]
    assert body.count('<svg class="trend-chart"') == len(figures)
    for figure in figures.values():
        assert f'<a href="{figure.url.replace("&", "&amp;")}">{figure.current}</a>' in body
        listing = support_client.get(figure.url)
        assert listing.status_code == 200, figure.url
        assert listing.context["cl"].result_count == figure.current, figure.key


def test_presets_and_custom_dates(support_client):
    _data()
    today = timezone.now().date()
    today_range = support_client.get(DASHBOARD, {"period": "today"}).context["period"]
    assert (today_range.first_day, today_range.last_day, today_range.days) == (today, today, 1)
    assert support_client.get(DASHBOARD, {"period": "30d"}).context["period"].days == 30
    custom = support_client.get(
        DASHBOARD,
        {
            "period": "custom",
            "date_from": (today - timedelta(days=21)).isoformat(),
            "date_to": (today - timedelta(days=7)).isoformat(),
        },
    )
    figures = {f.key: f for f in custom.context["period_figures"]}
    assert figures["transactions_created"].current == 2  # 8 and 20 days ago
    assert custom.context["period"].previous().days == 15


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"period": "custom", "date_from": "2026-03-10", "date_to": "2026-03-01"},
            "The start date is after the end date.",
        ),
        ({"period": "custom", "date_from": "2026-03-10"}, "Give both dates (from and to)."),
        ({"period": "custom", "date_from": "yesterday", "date_to": "2026-03-01"}, "Enter a valid date."),
        ({"period": "custom", "date_from": "0001-01-01", "date_to": "0001-01-02"}, "Dates must lie between the years"),
        ({"period": "forever"}, "Select a valid choice."),
        ({"period": "custom", "date_from": "2026-03-01\x00", "date_to": "2026-03-02"}, "Enter a valid date."),
    ],
)
def test_bad_input_gives_a_message_and_the_default_period(support_client, params, message):
    response = support_client.get(DASHBOARD, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["period"] == preset_range("7d")


def _queries(period):
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
    ):
        dashboard_period_get(period)
    return len(tenant_db), len(marketplace_db)


def test_a_constant_number_of_queries(support_client):
    period = preset_range("30d")
    before = _queries(period)

    def page():
        with (
            CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
            CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
        ):
            assert support_client.get(DASHBOARD, {"period": "30d"}).status_code == 200
        return len(tenant_db), len(marketplace_db)

    page_before = page()
    _data()
    provider = ProviderFactory()
    for n in range(10):
        make_transaction(provider)
        _event(100 + n, "failed")
    assert MarketplaceTransaction.objects.count() > 10
    assert _queries(period) == before == (2, 3)  # one aggregate per table
    assert page() == page_before
