"""The expiry task through the real broker and a real worker process, against committed data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Invoice, InvoiceAuditLog
from tenant_app.tasks import expire_pending_confirmations
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)]


def claimed_invoice(tenant, *, days_ago: float) -> Invoice:
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file())
        Invoice.objects.filter(pk=invoice.pk).update(buyer_marked_paid_at=timezone.now() - timedelta(days=days_ago))
    return invoice


def test_the_beat_task_expires_stale_claims_in_every_tenant_and_is_safe_to_rerun(celery_worker):
    a, b = TenantFactory(), TenantFactory()
    stale_a, fresh_a = claimed_invoice(a, days_ago=8), claimed_invoice(a, days_ago=1)
    stale_b = claimed_invoice(b, days_ago=30)

    assert expire_pending_confirmations.delay().get(timeout=60) == 2
    assert expire_pending_confirmations.delay().get(timeout=60) == 0

    with tenant_context(a.pk):
        assert dict(Invoice.objects.values_list("pk", "status")) == {
            stale_a.pk: "sent",
            fresh_a.pk: "pending_confirmation",
        }
        assert InvoiceAuditLog.objects.filter(action="confirmation_expired").count() == 1
    with tenant_context(b.pk):
        assert Invoice.objects.get().status == "sent"
        assert InvoiceAuditLog.objects.filter(invoice=stale_b, action="confirmation_expired").count() == 1


def test_the_task_for_one_tenant_leaves_the_others_alone(celery_worker):
    a, b = TenantFactory(), TenantFactory()
    stale_a, stale_b = claimed_invoice(a, days_ago=8), claimed_invoice(b, days_ago=8)
    assert expire_pending_confirmations.delay(tenant_id=b.pk).get(timeout=60) == 1
    with tenant_context(a.pk):
        assert Invoice.objects.get(pk=stale_a.pk).status == "pending_confirmation"
    with tenant_context(b.pk):
        assert Invoice.objects.get(pk=stale_b.pk).status == "sent"
