"""The receipt preview in a real browser: a finance staff member opens a tenant invoice the buyer
marked paid with a receipt (a PNG photo, or a PDF), clicks "Open the receipt" and the browser shows
it inline in a new tab (the image decoded, or the PDF served inline as application/pdf, nothing
downloaded); the read is audited with the tenant session's reason.

The browser, the live server and the screenshots: tests/fixtures/browser.py.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tenant_app import services
from tests.backoffice.conftest import PASSWORD, _staff
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

REASON = "ticket #5120: buyer says the transfer left on Monday"


def _png() -> bytes:
    """A photo of a receipt, as a phone would upload it (a real PNG, 64 x 48 pixels)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 220, 240)).save(out, format="PNG")
    return out.getvalue()


def _pdf() -> bytes:
    """A one-page PDF with a valid cross-reference table (what a bank's "download receipt" gives)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        None,  # the content stream, below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    text = b"BT /F1 18 Tf 20 100 Td (Bank transfer receipt) Tj ET"
    objects[3] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def finance_member(groups):
    return _staff("fin.finance@breederhq.test", "finance")


def _claimed_invoice(tenant, receipt: ContentFile):
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(42_000,))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt, reference="transfer 7")
    return invoice


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("png", "image/png"), ("pdf", "application/pdf")],
)
def test_finance_previews_the_receipt_inline_and_the_read_is_audited(page, finance_member, kind, content_type):
    tenant = TenantFactory(name="Sunny Kennels")
    TenantFactory(name="Other Kennels")
    content = _png() if kind == "png" else _pdf()
    invoice = _claimed_invoice(tenant, ContentFile(content, name=f"receipt.{kind}"))

    # Straight to the invoice: the admin asks which tenant (and why) first, then opens it.
    page.sign_in(finance_member, PASSWORD, next_path=reverse("admin:tenant_app_invoice_change", args=[invoice.pk]))
    page.work_on("Sunny Kennels", REASON)
    link = page.find(".field-receipt a")
    href = link.get_attribute("href")
    assert (link.text, href) == (
        "Open the receipt",
        page.url(reverse("backoffice:receipt", args=["tenant", invoice.pk])),
    )
    assert "/media/" not in page.driver.page_source
    page.shot("invoice-with-receipt")

    # The link opens a new tab showing the file itself.
    invoice_tab = page.driver.current_window_handle
    link.click()
    page.until(lambda driver: len(driver.window_handles) == 2)
    page.driver.switch_to.window(next(h for h in page.driver.window_handles if h != invoice_tab))
    page.until(lambda driver: driver.execute_script("return document.readyState") == "complete")
    assert page.driver.current_url == href
    assert page.driver.execute_script("return document.contentType") == content_type
    if kind == "png":
        size = page.until(
            lambda driver: driver.execute_script(
                "const img = document.images[0];"
                "return img && img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null;"
            )
        )
        assert size == [64, 48]
    page.shot("receipt-preview")
    assert list(page.downloads.iterdir()) == []  # shown, not saved

    audit = StaffActionAudit.objects.get(action="receipt_read")
    assert (audit.actor_id, audit.target_model, audit.target_database, audit.target_id, audit.result) == (
        finance_member.pk,
        "tenant_app.Invoice",
        TENANT_DB,
        str(invoice.pk),
        "personal data read: the buyer's receipt",
    )
    assert audit.reason == f"working on Sunny Kennels: {REASON}"
    read = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type=f"admin:receipt:{invoice.pk}")
    assert (read.user_id, read.target_tenant_id, read.reason) == (finance_member.pk, tenant.pk, REASON)
