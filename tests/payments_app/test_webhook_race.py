"""A card payment that Stripe has taken and the provider's confirmation of a payment by hand, on
separate connections against committed data in real PostgreSQL: the payment by hand is refused
(the card paid), and the webhook records exactly one payment."""

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.errors import Conflict
from breederhq.tenancy import tenant_context
from payments_app import services
from payments_app.models import StripeWebhookEvent
from tenant_app import services as tenant_services
from tenant_app.models import Invoice, Payment, PaymentConfirmationAudit
from tests.fakes.stripe_server import signed_delivery, stripe_event
from tests.payments_app.conftest import WEBHOOK_SECRET, sent_tenant_invoice
from tests.tenant_app.test_concurrency import race

pytestmark = [pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("round_", range(4))
def test_webhook_racing_a_manual_confirmation_records_one_payment(round_, client, fake_stripe, stripe_tenant):
    st = stripe_tenant
    invoice = sent_tenant_invoice(st, amount=25_000)
    intent_id = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=st.tenant.pk
    ).stripe_payment_intent_id
    event = stripe_event("payment_intent.succeeded", fake_stripe.succeed_intent(intent_id))
    body, header = signed_delivery(event, WEBHOOK_SECRET)
    assert (
        client.post(
            "/api/v1/payments/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        ).status_code
        == 200
    )
    event_pk = StripeWebhookEvent.objects.get().pk

    def webhook():
        return services.stripe_event_process(event_pk=event_pk)

    def provider_confirms_bank_transfer():
        with tenant_context(st.tenant.pk):
            return tenant_services.invoice_mark_paid(
                invoice_id=invoice.pk, method="manual", idempotency_key=f"bank-{invoice.pk}", actor=st.tenant.owner_user
            )

    # The card has paid at Stripe: a payment by hand asks Stripe first, finds the intent succeeded
    # and is refused (never a second collection); the webhook then pays the invoice once.
    with pytest.raises(Conflict) as refused:
        provider_confirms_bank_transfer()
    assert refused.value.code == "paid_by_card"
    processed = race(st.tenant, invoice, webhook)[0]
    assert processed.status == "succeeded"
    assert processed.outcome == f"invoice {invoice.invoice_number} paid"
    with tenant_context(st.tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
        assert (invoice.status, invoice.paid_cents) == ("paid", 25_000)
        assert Payment.objects.filter(invoice=invoice).count() == 1
        assert PaymentConfirmationAudit.objects.filter(invoice=invoice, event="confirmed").count() == 1
