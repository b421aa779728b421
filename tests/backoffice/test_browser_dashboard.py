"""The staff dashboard in a real browser: a support staff member opens it from the header, chooses
"Last 30 days", and the period figures are the database's counts for that period and the one
before it; each figure's trend chart (an inline SVG drawn by the server) is rendered, every
resource the page loaded came from the back office itself (the Performance API), and a number's
link lands on the change list filtered to exactly the rows it counts.

The browser, the live server and the screenshots: tests/fixtures/browser.py.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from breederhq.backoffice.dashboard_period import CHART_HEIGHT, preset_range
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from marketplace_app import services as mp
from marketplace_app.models import MarketplaceTransaction
from tests.backoffice.conftest import PASSWORD, _staff
from tests.factories.marketplace import ProviderFactory, make_transaction

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

TRANSACTIONS = MarketplaceTransaction.objects.using(MARKETPLACE_DB)


@pytest.fixture
def support_member(groups):
    return _staff("sue.support@breederhq.test", "support")


@pytest.fixture
def transactions():
    """Sales of today (one cancelled), 20 days ago (this period), 45 (the previous one) and 70 (neither)."""
    provider = ProviderFactory()
    for _ in range(2):
        make_transaction(provider)
    mp.transaction_cancel(transaction_id=make_transaction(provider).pk)
    for days_ago in (20, 45, 70):
        old = make_transaction(provider)
        TRANSACTIONS.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def _figure(page, key: str) -> tuple[int, int, str]:
    cells = page.find_all(f"#figure-{key} td")
    return int(cells[1].text), int(cells[2].text), cells[3].text


def test_a_period_shows_the_databases_figures_with_a_local_trend_chart_and_exact_links(
    page, support_member, transactions
):
    page.sign_in(support_member, PASSWORD)
    page.submit_and_wait(page.find("#header a[href$='/backoffice/dashboard/']"))
    page.select("#period-form select[name=period]", value="30d")
    page.shot("period-chosen")
    page.submit_and_wait(page.find("#period-form input[type=submit]"))
    period = preset_range("30d")
    assert page.find("#period h2").text == f"Period: {period.describe()}"
    page.shot("dashboard-30-days")

    # The figures are the database's counts, this period and the one before, with their trend.
    previous = period.previous()

    def counted(column, rng):
        return TRANSACTIONS.filter(**{f"{column}__gte": rng.start, f"{column}__lt": rng.end}).count()

    created = (counted("created_at", period), counted("created_at", previous))
    cancelled = (counted("cancelled_at", period), counted("cancelled_at", previous))
    assert (created, cancelled) == ((4, 1), (1, 0))  # the fixture's sales, as the test means them
    assert _figure(page, "transactions_created") == (*created, "▲ +3")
    assert _figure(page, "transactions_cancelled") == (*cancelled, "▲ +1")
    assert _figure(page, "transactions_paid") == (0, 0, "= 0")

    # The trend chart: drawn by the server as SVG, rendered, its bars in proportion.
    chart = page.find("#figure-transactions_created svg.trend-chart")
    assert chart.size["height"] > 0 and chart.size["width"] > 0
    heights = page.driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('rect'), r => [r.getAttribute('class'), r.getBBox().height]);",
        chart,
    )
    assert heights == [["previous", CHART_HEIGHT / 4], ["current", CHART_HEIGHT]]
    assert len(page.find_all("svg.trend-chart")) == len(page.find_all("#period-figures tr[id^=figure-]"))

    # Nothing came from elsewhere: every resource the page loaded (CSS, scripts, images) is ours.
    loaded = page.loaded_urls()
    assert any("/static/" in url for url in loaded), loaded  # the admin's own CSS at least
    origin = urlsplit(page.base_url)
    assert [url for url in loaded if urlsplit(url)[:2] != origin[:2]] == []

    # The number links to the change list of exactly those rows.
    page.submit_and_wait(page.find("#figure-transactions_created td a"))
    page.shot("transactions-created-list")
    listed = sorted(int(cell.text) for cell in page.find_all("#result_list tbody th.field-id"))
    assert listed == sorted(
        TRANSACTIONS.filter(created_at__gte=period.start, created_at__lt=period.end).values_list("pk", flat=True)
    )
    assert len(listed) == created[0]
