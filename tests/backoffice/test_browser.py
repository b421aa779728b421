"""The real admin in headless Chromium: a staff member of the support and finance groups signs in
through the login form, sets up their second factor (the key on the page, a code computed from it,
the recovery codes), chooses the tenant to work on, finds an invoice by its number, opens it,
confirms the buyer's manual payment through the action's confirmation page, and sees the result;
the database has the paid invoice and the audit rows naming them and their reason.

The browser, the live server and the screenshots at each step: tests/fixtures/browser.py.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from breederhq.backoffice.groups import backoffice_groups_sync
from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Invoice, PaymentConfirmationAudit, User
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

PASSWORD = "pw-for-browser-123"
REASON = "ticket #4711: the bank statement shows the transfer"


@pytest.fixture
def claimed_invoice():
    """Sunny's invoice the buyer says they paid by bank transfer, and another tenant's invoice."""
    tenant, other = TenantFactory(name="Sunny Kennels"), TenantFactory(name="Other Kennels")
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant, last_name="Lopez"), amounts=(75_000, 5_000))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="transfer 99")
    with tenant_context(other.pk):
        make_invoice(contact=ContactFactory(tenant=other))
    return tenant, _invoice_row(tenant, invoice.pk)


def _code_for(secret: str) -> str:
    """What an authenticator app shows now for the base32 key (spaces as the page groups it)."""
    from base64 import b32decode

    from django_otp.oath import TOTP

    return f"{TOTP(b32decode(secret.replace(' ', ''))).token():06d}"


def _invoice_row(tenant, pk) -> Invoice:
    with tenant_context(tenant.pk):
        return Invoice.objects.get(pk=pk)


@pytest.fixture
def staff_member():
    backoffice_groups_sync()
    user = User.objects.create_user(
        username="sue.support@breederhq.test", email="sue.support@breederhq.test", password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name="support"), Group.objects.get(name="finance"))
    return user


def test_support_finds_an_invoice_and_confirms_its_manual_payment(page, claimed_invoice, staff_member):
    from selenium.webdriver.common.by import By

    tenant, invoice = claimed_invoice
    find, submit_and_wait = page.find, page.submit_and_wait

    # Sign in through the real login form, asking for the invoice list straight away.
    invoices_path = reverse("admin:tenant_app_invoice_changelist")
    page.get(f"{reverse('admin:login')}?next={invoices_path}")
    find("#id_username").send_keys(staff_member.username)
    find("#id_password").send_keys(PASSWORD)
    page.shot("login-form")
    submit_and_wait(find("#login-form input[type=submit]"))

    # First sign-in: no second factor yet, so the admin asks to set one up. The test plays the
    # authenticator app: it takes the key shown on the page and computes the current code.
    secret = find("#second-factor-secret").text
    assert "Set up your second factor" in page.driver.title
    page.shot("second-factor-setup")
    find("#id_code").send_keys(_code_for(secret))
    submit_and_wait(find("#second-factor-form input[type=submit]"))
    codes = [li.text for li in page.find_all("#recovery-codes li")]
    assert len(codes) == 10
    submit_and_wait(find("#second-factor-continue"))

    # Tenant rows need a chosen tenant: the admin sends us to choose one, then back to the list.
    find("select[name=tenant]")
    assert "Work on a tenant" in page.driver.title
    page.shot("choose-tenant")
    page.work_on("Sunny Kennels", REASON)
    assert "Working on Sunny Kennels" in find("ul.messagelist").text

    # Find the invoice by its number and open it.
    find("#searchbar").send_keys(invoice.invoice_number)
    submit_and_wait(find("#changelist-search input[type=submit]"))
    rows = page.find_all("#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th.field-invoice_number").text for row in rows] == [
        invoice.invoice_number
    ]
    page.shot("invoice-found")
    submit_and_wait(find("#result_list th.field-invoice_number a"))
    assert (
        invoice.invoice_number in find("#content h2, #content h1").text or invoice.invoice_number in page.driver.title
    )
    assert "Pending confirmation" in find(".field-status .readonly").text
    assert find(".field-total .readonly").text == "800.00 USD"
    page.shot("invoice-page")

    # Back to the found invoice; run the action through its confirmation page.
    page.get(f"{invoices_path}?q={invoice.invoice_number}")
    find("#result_list input.action-select").click()
    page.select("select[name=action]", value="confirm_manual_payment")
    submit_and_wait(find("button[name=index]"))
    assert "are you sure" in find("#content").text.lower()
    assert invoice.invoice_number in find("#content ul").text
    find("textarea[name=reason]").send_keys(REASON)
    page.shot("confirm-action")
    submit_and_wait(find('input[type=submit][value="Yes, I\'m sure"]'))

    # The result on the page: the message, and the invoice's new state in the list and on its page.
    assert "Confirm the buyer's manual payment: 1 done, 0 refused." in find("ul.messagelist li.success").text
    assert find("#result_list td.field-status").text == "Paid"
    assert find("#result_list td.field-paid").text == "800.00 USD"
    page.shot("confirmed")
    submit_and_wait(find("#result_list th.field-invoice_number a"))
    assert "Paid" in find(".field-status .readonly").text
    assert "confirmed" in find("#content").text
    page.shot("invoice-paid")

    # And in the database: the invoice, its confirmation audit, who did it and why.
    invoice_now = _invoice_row(tenant, invoice.pk)
    assert (invoice_now.status, invoice_now.paid_cents) == ("paid", 80_000)
    with tenant_context(tenant.pk):
        events = list(
            PaymentConfirmationAudit.objects.filter(invoice_id=invoice.pk)
            .order_by("id")
            .values_list("event", "confirmed_by_id")
        )
    assert events == [("buyer_marked_paid", None), ("confirmed", staff_member.pk)]
    assert StaffActionAudit.objects.filter(action="second_factor_enrolled", actor_id=staff_member.pk).count() == 1
    assert list(
        StaffActionAudit.objects.exclude(action="second_factor_enrolled").values_list(
            "actor_id", "actor_username", "action", "target_model", "target_database", "target_id", "reason", "result"
        )
    ) == [
        (
            staff_member.pk,
            staff_member.username,
            "confirm_manual_payment",
            "tenant_app.Invoice",
            TENANT_DB,
            str(invoice.pk),
            REASON,
            "paid",
        )
    ]
    # Every tenant page the browser opened was audited with the staff member and the reason.
    pages = set(
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .filter(user_id=staff_member.pk, target_tenant_id=tenant.pk, reason=REASON)
        .values_list("query_type", flat=True)
    )
    assert {
        "admin:support_session_start",
        "admin:tenant_app.invoice:changelist",
        f"admin:tenant_app.invoice:change:{invoice.pk}",
    } <= pages
