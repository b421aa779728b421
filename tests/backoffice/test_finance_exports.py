"""Finance exports through the admin: who may export, what the files hold (rows, amounts in minor
units with their currency, UTC dates), formula injection neutralised, streaming with a number of
queries that does not grow with the rows, and the audit row of each export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from breederhq.backoffice.exports import DATASETS, neutralise
from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.money import Money
from breederhq.tenancy import system_read_context, tenant_context
from demo.data import load_demo_data
from marketplace_app.models import MarketplaceInvoice
from payments_app.models import ConnectMoneyMovement, RefundRequest
from tenant_app.models import Invoice, Payment
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
EXPORT = reverse("backoffice:finance_export")


def _today():
    return timezone.now().date()


def _params(dataset="invoices", fmt="csv", **extra):
    today = _today()
    return {
        "dataset": dataset,
        "fmt": fmt,
        "date_from": (today - timedelta(days=1)).isoformat(),
        "date_to": (today + timedelta(days=1)).isoformat(),
        "reason": "month-end close",
        **extra,
    }


def _download(client, **params):
    response = client.get(EXPORT, _params(**params))
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    return response, b"".join(response.streaming_content)


def _csv_rows(client, **params) -> list[dict]:
    response, body = _download(client, **params)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _totals(rows, amount="total_cents") -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["currency"]] += int(row[amount])
    return dict(totals)


def _db_totals(queryset, amount) -> dict[str, int]:
    return {
        row["currency"]: row["total"]
        for row in queryset.values("currency").annotate(total=Sum(amount)).order_by()
        if row["total"]
    }


def test_support_staff_and_staff_without_a_group_are_refused(support_client, bare_staff_client):
    for client in (support_client, bare_staff_client):
        assert client.get(EXPORT).status_code == 403
        assert client.get(EXPORT, _params()).status_code == 403
    assert not StaffActionAudit.objects.filter(action="finance_export").exists()


def test_invoices_csv_holds_both_kinds_with_their_totals_and_is_audited(finance_client):
    load_demo_data(back_office=False)
    rows = _csv_rows(finance_client)
    with system_read_context(job="test"):
        tenant = {(i.pk, i.invoice_number): i for i in Invoice.all_objects.all()}
        tenant_totals = _db_totals(Invoice.all_objects.all(), "total_cents")
    marketplace = {(i.pk, i.invoice_number): i for i in MarketplaceInvoice.objects.using(MARKETPLACE_DB)}
    assert tenant and marketplace
    assert {(int(r["invoice_id"]), r["invoice_number"]) for r in rows if r["kind"] == "tenant"} == set(tenant)
    assert {(int(r["invoice_id"]), r["invoice_number"]) for r in rows if r["kind"] == "marketplace"} == set(marketplace)
    assert _totals(r for r in rows if r["kind"] == "tenant") == tenant_totals
    assert _totals(r for r in rows if r["kind"] == "marketplace") == _db_totals(
        MarketplaceInvoice.objects.using(MARKETPLACE_DB), "total_cents"
    )
    for row in rows:  # minor units as integers, formatted with the currency, UTC ISO 8601
        assert row["total"] == Money(int(row["total_cents"]), row["currency"]).format()
        assert row["created_at"].endswith("Z") and "T" in row["created_at"]
    sample = next(r for r in rows if r["kind"] == "tenant")
    invoice = tenant[(int(sample["invoice_id"]), sample["invoice_number"])]
    assert (sample["tenant_id"], sample["status"], sample["paid_cents"]) == (
        str(invoice.tenant_id),
        invoice.status,
        str(invoice.paid_cents),
    )

    audit = StaffActionAudit.objects.get(action="finance_export")
    user = finance_client.get(reverse("admin:index")).wsgi_request.user
    assert (audit.actor_id, audit.target_model, audit.result) == (user.pk, "export:invoices", f"{len(rows)} rows, done")
    assert _params()["date_from"] in audit.reason and "month-end close" in audit.reason
    assert audit.target_id.startswith("csv ")
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:finance_export:invoices")
    assert read.user_id == user.pk and "month-end close" in read.reason


@pytest.mark.parametrize("dataset", ["payments", "refunds", "money_movements"])
def test_payments_refunds_and_money_movements_match_the_ledger(finance_client, dataset):
    load_demo_data()
    rows = _csv_rows(finance_client, dataset=dataset)
    with system_read_context(job="test"):
        if dataset == "payments":
            parts = [
                (Payment.objects.filter(kind="payment"), "tenant"),
                (MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(paid_at__isnull=False), "marketplace"),
            ]
            amount = {"marketplace": "total_cents"}
        elif dataset == "refunds":
            parts = [
                (Payment.objects.filter(kind="refund"), "tenant"),
                (RefundRequest.objects.filter(payment__invoice_kind="marketplace"), "marketplace"),
            ]
            amount = {}
        else:
            parts = [(ConnectMoneyMovement.objects.all(), None)]
            amount = {}
        expected = [
            (kind, queryset.count(), _db_totals(queryset, amount.get(kind, "amount_cents"))) for queryset, kind in parts
        ]
    assert sum(count for _, count, _ in expected) > 0, "the demo data has rows of this kind"
    for kind, count, totals in expected:
        mine = [r for r in rows if kind is None or r["kind"] == kind]
        assert len(mine) == count
        assert _totals(mine, "amount_cents") == totals
    for row in rows:
        assert row["amount"] == Money(int(row["amount_cents"]), row["currency"]).format()
    assert StaffActionAudit.objects.get(action="finance_export").result == f"{len(rows)} rows, done"


def test_xlsx_opens_and_has_the_same_rows_as_the_csv(finance_client):
    load_demo_data(back_office=False)
    csv_rows = _csv_rows(finance_client)
    response, body = _download(finance_client, fmt="xlsx")
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(body), read_only=True)["invoices"]
    header, *values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(header) == DATASETS["invoices"].columns
    as_text = [{column: "" if v is None else str(v) for column, v in zip(header, row, strict=True)} for row in values]
    assert as_text == csv_rows
    assert all(isinstance(row[header.index("total_cents")], int) for row in values)  # numbers, not text
    assert list(
        StaffActionAudit.objects.filter(action="finance_export").values_list("target_id", flat=True).order_by("id")
    )[-1].startswith("xlsx ")


def test_a_formula_or_control_characters_in_a_name_are_neutralised(finance_client):
    tenant = TenantFactory(name="+Kennel")
    with tenant_context(tenant.pk):
        make_invoice(
            contact=ContactFactory(tenant=tenant, first_name='=HYPERLINK("http://evil.test","x")', last_name="Bell\x07")
        )
    rows = _csv_rows(finance_client)
    (row,) = [r for r in rows if r["tenant_id"] == str(tenant.pk)]
    assert row["customer"] == '\'=HYPERLINK("http://evil.test","x") Bell'
    assert row["tenant"] == "'+Kennel"
    _, body = _download(finance_client, fmt="xlsx")
    sheet = load_workbook(io.BytesIO(body))["invoices"]
    header = [c.value for c in sheet[1]]
    customer = sheet.cell(row=2, column=header.index("customer") + 1)
    assert customer.data_type == "s" and customer.value.startswith("'=")  # text, not a formula
    # PostgreSQL refuses NUL in text, but a value from elsewhere goes through the same cell rule.
    for raw, safe in (
        ("\x00=1+2", "'=1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a\x00b", "ab"),
    ):
        assert neutralise(raw) == safe


def test_a_tenant_filter_gives_only_that_tenants_rows(finance_client):
    a, b = TenantFactory(name="Alpha"), TenantFactory(name="Beta")
    for tenant in (a, b):
        with tenant_context(tenant.pk):
            make_invoice(contact=ContactFactory(tenant=tenant))
    rows = _csv_rows(finance_client, tenant=a.pk)
    assert [(r["kind"], r["tenant"]) for r in rows] == [("tenant", "Alpha")]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"date_from": "2026-02-10", "date_to": "2026-02-01"}, "The start date is after the end date."),
        ({"date_from": "2026-13-01"}, "Enter a valid date."),
        ({"date_from": "0001-01-01"}, "Dates must lie between the years"),
        ({"tenant": "99999999999999999999999"}, "less than or equal to"),
        ({"tenant": "999999"}, "No tenant has this id."),
        ({"provider": "-1"}, "greater than or equal to 1"),
        ({"reason": "why\x00not"}, "Null characters are not allowed."),
        ({"dataset": "everything"}, "Select a valid choice."),
    ],
)
def test_bad_input_shows_the_form_with_a_message(finance_client, params, message):
    response = finance_client.get(EXPORT, _params(**params))
    assert response.status_code == 200 and not response.streaming
    assert message in response.content.decode()
    assert not StaffActionAudit.objects.filter(action="finance_export").exists()


def test_a_huge_range_streams_with_a_constant_number_of_queries(finance_client, settings):
    settings.BACKOFFICE_EXPORT_CHUNK_SIZE = 2
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)

    def export():
        with (
            CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
            CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
        ):
            response = finance_client.get(EXPORT, _params(date_from="2000-01-01", date_to="9000-12-31"))
            assert response.streaming
            body = b"".join(response.streaming_content).decode("utf-8-sig")
        return len(list(csv.DictReader(io.StringIO(body)))), len(tenant_db), len(marketplace_db)

    with tenant_context(tenant.pk):
        for _ in range(3):
            make_invoice(contact=contact)
    few = export()
    with tenant_context(tenant.pk):
        for _ in range(8):
            make_invoice(contact=contact)
    many = export()
    assert (few[0], many[0]) == (3, 11)  # more rows than the chunk size, all of them there
    assert few[1:] == many[1:]  # the rows are fetched by chunks of one cursor, never one query per row


def test_the_export_page_is_linked_from_the_dashboard_and_the_change_lists(finance_client, support_client):
    page = finance_client.get(EXPORT + "?dataset=payments")
    assert page.status_code == 200 and page.context["form"]["dataset"].value() == "payments"
    body = finance_client.get(reverse("backoffice:dashboard")).content.decode()
    assert f'href="{EXPORT}"' in body
    for changelist in (
        "admin:payments_app_invoicepayment_changelist",
        "admin:marketplace_app_marketplaceinvoice_changelist",
        "admin:payments_app_connectmoneymovement_changelist",
    ):
        body = finance_client.get(reverse(changelist)).content.decode()
        assert 'class="finance-export-link"' in body, changelist
    assert (
        'class="finance-export-link"'
        not in support_client.get(reverse("admin:marketplace_app_marketplaceinvoice_changelist")).content.decode()
    )


def test_the_support_search_box_is_in_every_admin_pages_header(support_client):
    search = reverse("backoffice:search")
    for url in (
        reverse("admin:index"),
        reverse("backoffice:dashboard"),
        reverse("admin:marketplace_app_marketplaceinvoice_changelist"),
        reverse("backoffice:support"),
    ):
        body = support_client.get(url).content.decode()
        assert 'id="header-search"' in body and f'action="{search}"' in body, url
    # The box sends the query; the search page then asks for the reason before reading anything.
    response = support_client.get(search, {"q": "INV-000001"})
    assert response.status_code == 200 and response.context["hits"] is None
    assert 'value="INV-000001"' in response.content.decode()
