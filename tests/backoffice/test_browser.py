"""The real admin in headless Chromium: a staff member of the support and finance groups signs in
through the login form, sets up their second factor (the key on the page, a code computed from it,
the recovery codes), chooses the tenant to work on, finds an invoice by its number, opens it,
confirms the buyer's manual payment through the action's confirmation page, and sees the result;
the database has the paid invoice and the audit rows naming them and their reason.

Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) are installed by
`make test`. The server is pytest-django's live_server (a thread of this process, on the test
databases, connecting as the application role like every other test).
"""

from __future__ import annotations

import shutil

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

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "pw-for-browser-123"
REASON = "ticket #4711: the bank statement shows the transfer"
WAIT_SECONDS = 20


@pytest.fixture
def browser():
    if not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)):
        pytest.skip(
            f"{CHROMIUM} / {CHROMEDRIVER} are not installed and could not be installed here "
            f"(`make test` runs: apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def replaced(element):
    """`expected_conditions.staleness_of`, also when chromedriver, asked while the page navigates,
    answers "Node with given id does not belong to the document": a WebDriverException rather than
    StaleElementReferenceException, for a node that is just as gone (a CI flake at the login)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def check(_driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in (exc.msg or ""):
                return True
            raise
        return False

    return check


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


def test_support_finds_an_invoice_and_confirms_its_manual_payment(browser, live_server, claimed_invoice, staff_member):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    tenant, invoice = claimed_invoice
    wait = WebDriverWait(browser, WAIT_SECONDS)

    def find(css):
        return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def submit_and_wait(button):
        button.click()
        wait.until(replaced(button))

    # Sign in through the real login form, asking for the invoice list straight away.
    invoices_url = live_server.url + reverse("admin:tenant_app_invoice_changelist")
    browser.get(f"{live_server.url}{reverse('admin:login')}?next={reverse('admin:tenant_app_invoice_changelist')}")
    find("#id_username").send_keys(staff_member.username)
    find("#id_password").send_keys(PASSWORD)
    submit_and_wait(find("#login-form input[type=submit]"))

    # First sign-in: no second factor yet, so the admin asks to set one up. The test plays the
    # authenticator app: it takes the key shown on the page and computes the current code.
    secret = find("#second-factor-secret").text
    assert "Set up your second factor" in browser.title
    find("#id_code").send_keys(_code_for(secret))
    submit_and_wait(find("#second-factor-form input[type=submit]"))
    codes = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    assert len(codes) == 10
    submit_and_wait(find("#second-factor-continue"))

    # Tenant rows need a chosen tenant: the admin sends us to choose one, then back to the list.
    find("select[name=tenant]")
    assert "Work on a tenant" in browser.title
    Select(find("select[name=tenant]")).select_by_visible_text("Sunny Kennels")
    find("textarea[name=reason]").send_keys(REASON)
    submit_and_wait(find("input[type=submit][value='Work on this tenant']"))
    assert "Working on Sunny Kennels" in find("ul.messagelist").text

    # Find the invoice by its number and open it.
    search = find("#searchbar")
    search.send_keys(invoice.invoice_number)
    submit_and_wait(find("#changelist-search input[type=submit]"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th.field-invoice_number").text for row in rows] == [
        invoice.invoice_number
    ]
    submit_and_wait(find("#result_list th.field-invoice_number a"))
    assert invoice.invoice_number in find("#content h2, #content h1").text or invoice.invoice_number in browser.title
    assert "Pending confirmation" in find(".field-status .readonly").text
    assert find(".field-total .readonly").text == "800.00 USD"

    # Back to the found invoice; run the action through its confirmation page.
    browser.get(f"{invoices_url}?q={invoice.invoice_number}")
    find("#result_list input.action-select").click()
    Select(find("select[name=action]")).select_by_value("confirm_manual_payment")
    submit_and_wait(find("button[name=index]"))
    assert "are you sure" in find("#content").text.lower()
    assert invoice.invoice_number in find("#content ul").text
    find("textarea[name=reason]").send_keys(REASON)
    submit_and_wait(find('input[type=submit][value="Yes, I\'m sure"]'))

    # The result on the page: the message, and the invoice's new state in the list and on its page.
    assert "Confirm the buyer's manual payment: 1 done, 0 refused." in find("ul.messagelist li.success").text
    assert find("#result_list td.field-status").text == "Paid"
    assert find("#result_list td.field-paid").text == "800.00 USD"
    submit_and_wait(find("#result_list th.field-invoice_number a"))
    assert "Paid" in find(".field-status .readonly").text
    assert "confirmed" in find("#content").text

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
