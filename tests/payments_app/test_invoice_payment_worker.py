"""End to end through a real worker: sending a Stripe-mode invoice gets it its payment intent."""

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app.models import InvoicePayment
from tenant_app import services as tenant_services
from tests.factories.tenant import make_invoice
from tests.payments_app.conftest import every_row
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]


def test_sending_opens_the_payment_intent_after_commit(fake_stripe, stripe_tenant, start_celery_worker):
    start_celery_worker(STRIPE_API_BASE=fake_stripe.url, STRIPE_SECRET_KEY="sk_test_fake")
    with tenant_context(stripe_tenant.tenant.pk):
        invoice = make_invoice(contact=stripe_tenant.contact, amounts=(30_000,))
        assert not fake_stripe.requests  # nothing before the send commits
        tenant_services.invoice_send(invoice_id=invoice.pk)
    assert wait_until(lambda: every_row(InvoicePayment).filter(stripe_payment_intent_id__isnull=False).exists())
    row = every_row(InvoicePayment).get()
    assert (row.invoice_kind, row.invoice_id, row.amount_cents) == ("tenant", invoice.pk, 30_000)
    assert list(fake_stripe.objects["payment_intents"]) == [row.stripe_payment_intent_id]
