"""Finance opens the buyer's receipt from the invoice's admin page: a link through the back office's
permission-checked download (the API's), shown inline for PDFs and images, audited as a read of
personal data. The page never links to /media/ (not served)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app import services
from tests.backoffice.conftest import work_on
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def claimed():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(40_000,))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="transfer 1")
    return tenant, invoice


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_finance_opens_the_receipt_inline_from_the_invoice_page_and_it_is_audited(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    page = finance_client.get(reverse("admin:tenant_app_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    link = reverse("backoffice:receipt", args=["tenant", invoice.pk])
    assert f'href="{link}"' in html
    assert "/media/" not in html

    response = finance_client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert "no-store" in response["Cache-Control"] and response["X-Content-Type-Options"] == "nosniff"
    assert _body(response) == b"%PDF-1.4 bank transfer receipt"
    audit = StaffActionAudit.objects.get(action="receipt_read")
    assert (audit.actor_username, audit.target_model, audit.target_id) == (
        "fin.finance@breederhq.test",
        "tenant_app.Invoice",
        str(invoice.pk),
    )
    assert audit.result == "personal data read: the buyer's receipt"
    assert "ticket #123" in audit.reason

    download = finance_client.get(link + "?download=1")
    assert download["Content-Disposition"].startswith("attachment;")


def test_the_receipt_needs_the_tenant_context_and_the_permission(finance_client, bare_staff_client, client, claimed):
    tenant, invoice = claimed
    link = reverse("backoffice:receipt", args=["tenant", invoice.pk])
    first = finance_client.get(link)  # not working on the tenant yet: choose it (with a reason) first
    assert first.status_code == 302 and first["Location"].startswith(reverse("backoffice:support"))
    assert bare_staff_client.get(link).status_code == 403
    anonymous = client.get(link)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))
    other = TenantFactory(name="Other kennel")
    work_on(finance_client, other)  # another tenant's invoice is not there (row-level security)
    assert finance_client.get(link).status_code == 404
    assert not StaffActionAudit.objects.filter(action="receipt_read", result__startswith="personal data").exists()
