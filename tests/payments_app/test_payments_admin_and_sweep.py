"""Support staff read fallbacks and reconciliation reports in admin; the sweep opens intents that an
outage left unopened."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app import services
from payments_app.models import InvoicePayment, ReconciliationRun
from payments_app.reconciliation import stripe_reconcile
from payments_app.stripe_gateway import StripeUnavailable, stripe_breaker
from payments_app.tasks import open_unopened_invoice_payments
from tenant_app.models import User
from tests.factories.tenant import make_invoice
from tests.payments_app.conftest import every_row, owner_refresh, sent_tenant_invoice
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser(
        username="sam@breederhq.test", email="sam@breederhq.test", password="pw-123456!"
    )
    return staff_login(client, user)


def test_a_fallback_is_visible_in_admin(staff_client, fake_stripe, stripe_tenant):
    stripe_breaker().open()
    with tenant_context(stripe_tenant.tenant.pk):
        make_invoice(contact=stripe_tenant.contact)
    response = staff_client.get(
        reverse("admin:payments_app_invoicepayment_changelist") + "?fallback_reason=breaker_open"
    )
    assert response.status_code == 200
    assert b"Stripe unavailable (circuit open)" in response.content


def test_a_reconciliation_report_lists_its_disagreements(staff_client, fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant)
    row = services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk)
    del fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]
    run = stripe_reconcile()
    assert staff_client.get(reverse("admin:payments_app_reconciliationrun_changelist")).status_code == 200
    page = staff_client.get(reverse("admin:payments_app_reconciliationrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert f"payment intent {row.stripe_payment_intent_id} not in Stripe".encode() in page.content
    assert ReconciliationRun.objects.count() == 1


def test_the_sweep_opens_what_an_outage_left_unopened_once(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant)
    fake_stripe.fail_next(1, status=500)
    with pytest.raises(StripeUnavailable):
        services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk)
    row = every_row(InvoicePayment).get()
    assert services.invoice_payments_unopened() == []  # too fresh: the task may still be retrying
    later = timezone.now() + timedelta(minutes=6)
    assert services.invoice_payments_unopened(now=later) == [row]
    every_row(InvoicePayment).filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    assert open_unopened_invoice_payments() == {
        "opened": 1,
        "failed": 0,
        "abandoned": 0,
        "cancelled": 0,
        "cancel_pending": 0,
    }
    assert open_unopened_invoice_payments() == {
        "opened": 0,
        "failed": 0,
        "abandoned": 0,
        "cancelled": 0,
        "cancel_pending": 0,
    }
    owner_refresh(row)
    assert list(fake_stripe.objects["payment_intents"]) == [row.stripe_payment_intent_id]
