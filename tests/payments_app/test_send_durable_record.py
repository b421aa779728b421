"""Sending a Stripe-mode invoice leaves a durable "unopened" payment row, written with the send
itself, so a lost enqueue (Redis down) is opened by the sweep later; and the sweep closes rows
whose invoice was voided or settled before their intent existed instead of retrying them forever."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.jobs.publish_later import wait_until_published
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import InvoicePayment
from payments_app.tasks import open_unopened_invoice_payments
from tenant_app import services as tenant_services
from tenant_app.models import Invoice
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import make_invoice
from tests.fixtures.broker import broker_unreachable
from tests.payments_app.conftest import connect_account, every_row, owner_save, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def rows():
    return list(
        every_row(InvoicePayment)
        .order_by("pk")
        .values_list("invoice_kind", "invoice_id", "provider", "open_state", "stripe_payment_intent_id")
    )


def sweep_later():
    """The 5-minute beat sweep, run once the rows are old enough for it."""
    every_row(InvoicePayment).update(created_at=timezone.now() - timedelta(minutes=6))
    return open_unopened_invoice_payments()


def test_redis_down_at_send_keeps_the_row_and_the_sweep_opens_exactly_one_intent(
    fake_stripe, stripe_tenant, django_capture_on_commit_callbacks, caplog
):
    with tenant_context(stripe_tenant.tenant.pk):
        invoice = make_invoice(contact=stripe_tenant.contact, amounts=(30_000,))
    with broker_unreachable():
        with django_capture_on_commit_callbacks(execute=True) as callbacks, tenant_context(stripe_tenant.tenant.pk):
            sent = tenant_services.invoice_send(invoice_id=invoice.pk)
        assert wait_until_published()
    assert sent.status == "sent"
    assert len(callbacks) >= 1  # the enqueue ran after commit (on the publisher thread), and failed
    assert f"could not publish payments_app.tasks.open_invoice_payment('tenant', {invoice.pk}" in caplog.text
    assert rows() == [("tenant", invoice.pk, "stripe", "unopened", None)]
    assert fake_stripe.requests == []

    # Redis is back; the sweep opens it, once.
    assert sweep_later() == {"opened": 1, "failed": 0, "abandoned": 0, "cancelled": 0, "cancel_pending": 0}
    assert sweep_later() == {"opened": 0, "failed": 0, "abandoned": 0, "cancelled": 0, "cancel_pending": 0}
    intent_id = every_row(InvoicePayment).get().stripe_payment_intent_id
    assert list(fake_stripe.objects["payment_intents"]) == [intent_id]
    assert rows() == [("tenant", invoice.pk, "stripe", "opened", intent_id)]


def test_the_row_is_part_of_the_send_a_rolled_back_send_leaves_none(fake_stripe, stripe_tenant):
    with tenant_context(stripe_tenant.tenant.pk):
        invoice = make_invoice(contact=stripe_tenant.contact, amounts=(30_000,))
    with pytest.raises(RuntimeError), transaction.atomic(using=TENANT_DB), tenant_context(stripe_tenant.tenant.pk):
        tenant_services.invoice_send(invoice_id=invoice.pk)
        assert rows() == [("tenant", invoice.pk, "stripe", "unopened", None)]
        raise RuntimeError("the request failed after the send")
    assert rows() == []
    with tenant_context(stripe_tenant.tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "draft"


def test_a_marketplace_send_with_redis_down_is_opened_by_the_sweep_too(fake_stripe, django_capture_on_commit_callbacks):
    provider = ProviderFactory(payment_mode="stripe")
    connect_account(provider=provider)
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    with (
        broker_unreachable(),
        django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True),
        django_capture_on_commit_callbacks(using=TENANT_DB, execute=True),
    ):
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        # The payment row lives in the tenant database: the outbox, written with the send, carries it.
        outbox_relay_due()
    assert MarketplaceInvoice.objects.get(pk=invoice.pk).status == "sent"
    assert rows() == [("marketplace", invoice.pk, "stripe", "unopened", None)]
    assert sweep_later()["opened"] == 1
    assert len(fake_stripe.objects["payment_intents"]) == 1
    assert rows()[0][3] == "opened"


@pytest.mark.parametrize("then", ["void", "paid manually"])
def test_the_sweep_closes_a_row_whose_invoice_was_settled_before_its_intent_existed(
    fake_stripe, stripe_tenant, then, caplog
):
    invoice = sent_tenant_invoice(stripe_tenant)
    # The invoice moved on while its enqueue was lost, without the row being told (as if the void
    # had run before this release, or the buyer paid by other means).
    with tenant_context(stripe_tenant.tenant.pk):
        Invoice.all_objects.filter(pk=invoice.pk).update(status="void" if then == "void" else "paid")
    assert sweep_later() == {"opened": 0, "failed": 0, "abandoned": 1, "cancelled": 0, "cancel_pending": 0}
    payment = every_row(InvoicePayment).get()
    expected = "void" if then == "void" else "paid"
    assert (payment.open_state, payment.open_note, payment.stripe_payment_intent_id) == (
        "abandoned",
        f"invoice {invoice.invoice_number} became {expected} before its intent existed",
        None,
    )
    assert f"payment intent of tenant invoice {invoice.pk} abandoned" in caplog.text
    # Not retried: the sweep finds nothing any more, and Stripe was never asked.
    assert services.invoice_payments_unopened(now=timezone.now() + timedelta(days=1)) == []
    assert sweep_later() == {"opened": 0, "failed": 0, "abandoned": 0, "cancelled": 0, "cancel_pending": 0}
    assert fake_stripe.requests == []


def test_a_row_that_cannot_be_opened_yet_says_why_and_is_opened_once_it_can(fake_stripe, stripe_tenant):
    stuck = sent_tenant_invoice(stripe_tenant)
    stripe_tenant.account.status = "restricted"
    owner_save(stripe_tenant.account)
    assert sweep_later() == {"opened": 0, "failed": 1, "abandoned": 0, "cancelled": 0, "cancel_pending": 0}
    payment = every_row(InvoicePayment).get(invoice_id=stuck.pk)
    assert (payment.open_state, payment.open_note) == (
        "unopened",
        "stripe_account_unusable: The Stripe Connect account cannot take payments.",
    )
    stripe_tenant.account.status = "enabled"
    owner_save(stripe_tenant.account)
    assert sweep_later()["opened"] == 1
