"""Cross-tenant support search in a real browser: a support staff member types an invoice number
into the header's search box, gives the reason the search asks for, sees the hits of every tenant,
and one click (the tenant and the reason already filled in) lands them on the invoice in the right
tenant's audited context; the same with a contact's email, in another tenant. The cross-tenant read
and each tenant page are audited with the staff member and the reason.

The browser, the live server and the screenshots: tests/fixtures/browser.py.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tests.backoffice.conftest import PASSWORD, _staff
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

REASON = "ticket #6001: buyer cannot find their invoice"


@pytest.fixture
def support_member(groups):
    return _staff("sue.support@breederhq.test", "support")


@pytest.fixture
def two_tenants():
    """Alpha and Beta both number their invoices from INV-000001; Alpha has a contact Olive."""
    alpha, beta = TenantFactory(name="Alpha Kennel"), TenantFactory(name="Beta Cattery")
    with tenant_context(alpha.pk):
        make_invoice(contact=ContactFactory(tenant=alpha))
        olive = ContactFactory(tenant=alpha, first_name="Olive", last_name="Green", email="olive.green@example.test")
    with tenant_context(beta.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=beta, last_name="Moreau"), amounts=(12_345,))
        invoice.refresh_from_db()
    return alpha, beta, invoice, olive


def _search(page, query: str):
    """From the header of the page we are on: the query, then the reason the search page asks for."""
    box = page.find("#header-search-q")
    box.send_keys(query)
    page.submit_and_wait(page.find("#header-search input[type=submit]"))
    assert page.find("#id_q").get_attribute("value") == query
    assert not page.find_all("#support-search-results")  # nothing read before the reason is given
    page.find("#id_reason").send_keys(REASON)
    page.submit_and_wait(page.find("#content form input[type=submit]"))
    return [
        [cell.text for cell in row.find_elements("css selector", "td")[:4]]
        for row in page.find_all("#support-search-results tbody tr")
    ]


def _open_hit(page, tenant_name: str) -> None:
    """Follow a hit's link: the "work on" page comes with the tenant and the reason filled in."""
    page.find("#support-search-results")
    links = [a for a in page.find_all("#support-search-results a") if a.text == f"Work on {tenant_name} and open"]
    assert len(links) == 1, [a.text for a in page.find_all("#support-search-results a")]
    page.submit_and_wait(links[0])
    selected = page.find("select[name=tenant] option:checked").text
    assert (selected, page.find("textarea[name=reason]").get_attribute("value")) == (tenant_name, REASON)
    page.shot(f"work-on-{tenant_name}")
    page.submit_and_wait(page.find("input[type=submit][value='Work on this tenant']"))
    assert f"Working on {tenant_name}" in page.find("ul.messagelist").text


def test_support_finds_an_invoice_and_a_contact_of_any_tenant_and_lands_in_its_context(
    page, support_member, two_tenants
):
    alpha, beta, invoice, olive = two_tenants
    page.sign_in(support_member, PASSWORD)
    page.find("#header-search-q")
    page.shot("signed-in")

    # The invoice number: one hit per tenant, each named; Beta's opens in Beta's context.
    hits = _search(page, invoice.invoice_number)
    page.shot("invoice-hits")
    assert sorted(hits) == [
        ["tenant invoice", invoice.invoice_number, "100.00 USD · Draft", "Alpha Kennel"],
        ["tenant invoice", invoice.invoice_number, "123.45 USD · Draft", "Beta Cattery"],
    ]
    _open_hit(page, "Beta Cattery")
    assert page.driver.current_url == page.url(reverse("admin:tenant_app_invoice_change", args=[invoice.pk]))
    assert invoice.invoice_number in page.driver.title
    assert page.find(".field-total .readonly").text == "123.45 USD"
    assert "Moreau" in page.find(".field-contact .readonly").text
    page.shot("beta-invoice")

    # A contact's email, from the invoice page's header: Olive is Alpha's, so the admin moves to Alpha.
    hits = _search(page, "Olive.Green@example.test")
    page.shot("email-hits")
    assert hits == [["contact", "Olive Green", "olive.green@example.test", "Alpha Kennel"]]
    _open_hit(page, "Alpha Kennel")
    assert page.driver.current_url == page.url(reverse("admin:tenant_app_contact_change", args=[olive.pk]))
    assert "olive.green@example.test" in page.find("#content").text
    page.shot("alpha-contact")

    # The audits: each search read every tenant (system read), each landing is a tenant session.
    searches = list(
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .filter(query_type="system:support_search")
        .order_by("id")
        .values_list("user_id", "reason")
    )
    assert searches == [
        (support_member.pk, f"support search for {invoice.invoice_number!r}: {REASON}"),
        (support_member.pk, f"support search for 'Olive.Green@example.test': {REASON}"),
    ]
    tenant_pages = list(
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .filter(user_id=support_member.pk, reason=REASON)
        .exclude(query_type__startswith="system:")
        .order_by("id")
        .values_list("target_tenant_id", "query_type")
    )
    assert tenant_pages == [
        (beta.pk, "admin:support_session_start"),
        (beta.pk, f"admin:tenant_app.invoice:change:{invoice.pk}"),
        (alpha.pk, "admin:support_session_start"),
        (alpha.pk, f"admin:tenant_app.contact:change:{olive.pk}"),
    ]
