"""A finance export in a real browser: a finance staff member opens "Finance exports" from the
header, picks the invoices, CSV, a date range and a reason, and Chromium saves the file into this
test's download directory; its rows are exactly the invoices (tenant and marketplace) created in
the range, with the database's amounts, and those before or after it are absent. The export is
audited with the range, the reason and the row count.

The browser, the live server, the download directory and the screenshots: tests/fixtures/browser.py.
"""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from marketplace_app import services as mp
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from tenant_app.models import Invoice
from tests.backoffice.conftest import PASSWORD, _staff
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

REASON = "month-end close, March"


@pytest.fixture
def finance_member(groups):
    return _staff("fin.finance@breederhq.test", "finance")


def _tenant_invoice(tenant, cents: int, days_ago: int) -> Invoice:
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(cents,))
        Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
        return Invoice.objects.get(pk=invoice.pk)


def _marketplace_invoice(cents: int, days_ago: int) -> MarketplaceInvoice:
    tx = make_transaction(ProviderFactory(), MarketplaceUserFactory(), amount_cents=cents)
    invoice = mp.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("Grooming", cents)])
    rows = MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(pk=invoice.pk)
    rows.update(created_at=timezone.now() - timedelta(days=days_ago))
    return rows.get()


@pytest.fixture
def invoices():
    """Invoices 3 days old (in the range: 5 to 1 days ago), 10 days old (before) and new (after)."""
    alpha, beta = TenantFactory(name="Alpha Kennel"), TenantFactory(name="Beta Cattery")
    inside = [
        _tenant_invoice(alpha, 12_500, 3),
        _tenant_invoice(alpha, 99_999, 2),
        _tenant_invoice(beta, 4_200, 4),
        _marketplace_invoice(7_000, 3),
    ]
    outside = [
        _tenant_invoice(alpha, 1_000, 10),
        _tenant_invoice(beta, 2_000, 0),
        _marketplace_invoice(3_000, 0),
    ]
    return inside, outside


def _kind(invoice) -> str:
    return "marketplace" if isinstance(invoice, MarketplaceInvoice) else "tenant"


def test_finance_downloads_the_invoices_of_a_date_range_as_csv(page, finance_member, invoices):
    inside, outside = invoices
    today = timezone.now().date()
    first, last = today - timedelta(days=5), today - timedelta(days=1)

    page.sign_in(finance_member, PASSWORD)
    page.submit_and_wait(page.find("#header-finance-exports"))
    page.select("#id_dataset", value="invoices")
    page.select("#id_fmt", value="csv")
    page.set_date("#id_date_from", first)
    page.set_date("#id_date_to", last)
    page.find("#id_reason").send_keys(REASON)
    page.shot("export-form")
    page.find("#finance-export-form input[type=submit]").click()  # an attachment: the page stays

    # Chromium writes `<name>.crdownload` while the file comes, then renames it.
    expected = page.downloads / f"breederhq-invoices-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    assert wait_until(lambda: expected.exists() and not list(page.downloads.glob("*.crdownload")), timeout=30)
    page.shot("after-download")
    with expected.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))

    assert sorted((row["kind"], int(row["invoice_id"])) for row in rows) == sorted(
        (_kind(invoice), invoice.pk) for invoice in inside
    )
    by_key = {(row["kind"], int(row["invoice_id"])): row for row in rows}
    for invoice in inside:
        row = by_key[(_kind(invoice), invoice.pk)]
        assert (row["invoice_number"], int(row["total_cents"]), row["currency"], row["status"]) == (
            invoice.invoice_number,
            invoice.total_cents,
            invoice.currency,
            invoice.status,
        )
        assert first.isoformat() <= row["created_at"][:10] <= last.isoformat()
    assert not {(_kind(invoice), invoice.pk) for invoice in outside} & set(by_key)

    # The audit row is written when the stream ends, just after the last bytes were sent.
    assert wait_until(lambda: StaffActionAudit.objects.filter(action="finance_export").exists(), timeout=10)
    audit = StaffActionAudit.objects.get(action="finance_export")
    assert (audit.actor_id, audit.target_model, audit.target_id, audit.result) == (
        finance_member.pk,
        "export:invoices",
        f"csv {first:%Y%m%d}-{last:%Y%m%d}",
        f"{len(inside)} rows, done",
    )
    assert first.isoformat() in audit.reason and REASON in audit.reason
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:finance_export:invoices")
    assert read.user_id == finance_member.pk and REASON in read.reason
