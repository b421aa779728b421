"""Staff open an invoice's PDF from its admin page (both kinds): a link through the back office's
permission-checked view, audited as a read of personal data, never a /media/ address."""

from __future__ import annotations

import pytest
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.invoicing.documents import document_ensure, invoice_ref
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from tenant_app import services
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.backoffice.conftest import work_on
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_finance_opens_a_tenant_invoice_pdf_from_its_page_and_it_is_audited(finance_client, bare_staff_client):
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(40_000,))
        services.invoice_send(invoice_id=invoice.pk)
    row, _ = document_ensure(invoice_ref("tenant_invoice", invoice))
    link = reverse("backoffice:invoice_document", args=["tenant", invoice.pk, row.pk])
    assert finance_client.get(link).status_code == 302  # choose the tenant (with a reason) first
    work_on(finance_client, tenant)
    page = finance_client.get(reverse("admin:tenant_app_invoice_change", args=[invoice.pk]))
    html = page.content.decode()
    assert f'href="{link}"' in html and "Documents (PDF)" in html and "/media/" not in html

    response = finance_client.get(link)
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response["Content-Disposition"] == f'inline; filename="invoice-{invoice.invoice_number}.pdf"'
    assert response.content.startswith(b"%PDF-") and len(response.content) == row.size
    audit = StaffActionAudit.objects.get(action="invoice_document_read")
    assert (audit.target_model, audit.target_id) == ("tenant_app.InvoiceDocument", str(row.pk))
    assert "ticket #123" in audit.reason
    assert finance_client.get(link + "?download=1")["Content-Disposition"].startswith("attachment;")
    assert bare_staff_client.get(link).status_code == 403
    work_on(finance_client, TenantFactory())  # another tenant's document is not there
    assert finance_client.get(link).status_code == 404


def test_finance_opens_a_marketplace_invoice_pdf(finance_client):
    _, provider = provider_with_login()
    _, buyer = person()
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=make_transaction(provider, buyer, amount_cents=100).pk,
        line_items=[marketplace_services.LineItem("Walk", 100)],
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    row, _ = document_ensure(invoice_ref("marketplace_invoice", invoice))
    link = reverse("backoffice:invoice_document", args=["marketplace", invoice.pk, row.pk])
    page = finance_client.get(reverse("admin:marketplace_app_marketplaceinvoice_change", args=[invoice.pk]))
    assert f'href="{link}"' in page.content.decode()
    response = finance_client.get(link)
    assert (response.status_code, response.content[:5]) == (200, b"%PDF-")
    assert StaffActionAudit.objects.filter(action="invoice_document_read", target_id=str(row.pk)).exists()
