import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from demo.data import load_demo_data
from tenant_app.models import Contact, Invoice, InvoiceAuditLog, Payment, Tenant, TenantMembership

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def test_demo_tenant_is_loaded_once_with_invoices_in_every_state():
    logins = load_demo_data(back_office=False)  # the back office's rows: tests/backoffice/test_demo_data_pages.py
    load_demo_data(back_office=False)
    assert ("owner@sunny-kennels.test", "owner of the demo tenant Sunny Kennels (contacts, invoices)") in logins
    tenant = Tenant.objects.get()
    assert (tenant.name, tenant.slug) == ("Sunny Kennels", "sunny-kennels")
    with tenant_context(tenant.pk):
        assert TenantMembership.objects.get().user.email == "owner@sunny-kennels.test"
        assert Contact.objects.count() == 3
        assert sorted(Invoice.objects.values_list("status", flat=True)) == [
            "draft",
            "paid",
            "partially_refunded",
            "pending_confirmation",
            "sent",
            "void",
        ]
        assert Payment.objects.count() == 3
        audit_rows = InvoiceAuditLog.objects.count()
    load_demo_data(back_office=False)
    with tenant_context(tenant.pk):
        assert InvoiceAuditLog.objects.count() == audit_rows
