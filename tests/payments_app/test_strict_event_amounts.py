"""Money fields of Stripe events are integers in minor units: anything else (a float, a string, a
bool, null where required) fails the event, dead-lettered with the reason, and pays nothing."""

import copy

import pytest

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from payments_app import services
from payments_app.models import StripeWebhookEvent
from tenant_app.models import Invoice, Payment
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import deliver_and_process, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def collected(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant, amount=1_500)
    row = services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk)
    return stripe_tenant, invoice, row.stripe_payment_intent_id


def _state(st, invoice):
    with tenant_context(st.tenant.pk):
        return Invoice.objects.get(pk=invoice.pk).status, Payment.objects.filter(invoice_id=invoice.pk).count()


@pytest.mark.parametrize(
    "field, value",
    [
        ("amount_received", 1500.9),
        ("amount_received", 1500.0),
        ("amount_received", "1500"),
        ("amount_received", True),
        ("amount_received", None),
        ("application_fee_amount", "75"),
        ("application_fee_amount", 75.0),
    ],
)
def test_a_payment_whose_amount_is_not_an_integer_is_dead_lettered_and_pays_nothing(
    client, fake_stripe, collected, field, value
):
    st, invoice, intent_id = collected
    intent = copy.deepcopy(fake_stripe.succeed_intent(intent_id))
    intent[field] = value
    if field == "amount_received" and value is None:
        intent.pop("amount", None)  # nothing else to read the amount from
    event = deliver_and_process(client, stripe_event("payment_intent.succeeded", intent))
    assert event.status == StripeWebhookEvent.Status.DEAD
    assert "InvalidEventAmount" in event.last_error and field in event.last_error
    assert event.outcome.startswith("dead-lettered:")
    assert event.attempts == 1
    assert _state(st, invoice) == ("sent", 0)
    # Support staff see it dead-lettered, with the reason, in the Stripe events admin.
    assert StripeWebhookEvent.objects.filter(status="dead", last_error__contains=field).exists()


def test_an_integer_amount_still_pays(client, fake_stripe, collected):
    st, invoice, intent_id = collected
    event = deliver_and_process(
        client, stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id)))
    )
    assert event.status == "succeeded"
    assert _state(st, invoice) == ("paid", 1)


@pytest.mark.parametrize("value", [1500.0, "1500", False])
def test_a_refund_total_that_is_not_an_integer_is_dead_lettered(client, fake_stripe, collected, value):
    st, invoice, intent_id = collected
    deliver_and_process(
        client, stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id)))
    )
    charge = fake_stripe.charge_of(intent_id, amount_refunded=0)
    charge["amount_refunded"] = value
    event = deliver_and_process(client, stripe_event("charge.refunded", charge))
    assert event.status == "dead"
    assert _state(st, invoice) == ("paid", 1)
