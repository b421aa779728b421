"""Every payment, whatever the channel, sends the same receipts: a receipt to the payer and a notice
to the seller, through the email queue (text and HTML), once."""

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.services import LineItem
from payments_app import services
from tenant_app import services as tenant_services
from tenant_app.models import Invoice
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
RECEIPTS = {"invoice_payment_receipt", "invoice_payment_received"}


def receipts(using: str) -> list[tuple[str, list[str]]]:
    return list(
        OutboundEmail.objects.using(using).filter(template__in=RECEIPTS).order_by("id").values_list("template", "to")
    )


def pay_by_card(fake, intent_id):
    event = stripe_event("payment_intent.succeeded", copy.deepcopy(fake.succeed_intent(intent_id)))
    assert deliver_and_process(Client(), event).status == "succeeded"
    deliver_and_process(Client(), event)  # the same event again: nothing more


def tenant_recipients(st):
    with tenant_context(st.tenant.pk):
        return st.contact.email, st.tenant.owner_user.email


def test_a_card_payment_of_a_tenant_invoice_sends_the_receipts(fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    intent_id = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    pay_by_card(fake_stripe, intent_id)
    buyer, owner = tenant_recipients(stripe_tenant)
    assert receipts(TENANT_DB) == [("invoice_payment_receipt", [buyer]), ("invoice_payment_received", [owner])]
    receipt = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_payment_receipt")
    assert "250.00 USD" in receipt.text_body and "card, through Stripe" in receipt.text_body
    assert "<strong>250.00 USD</strong>" in receipt.html_body


def test_a_payment_by_hand_sends_the_same_receipts(fake_stripe, stripe_tenant):
    from tests.factories.tenant import make_invoice

    with tenant_context(stripe_tenant.tenant.pk):
        invoice = make_invoice(contact=stripe_tenant.contact, amounts=(25_000,))
        invoice.payment_mode_snapshot = "manual"
        invoice.save(update_fields=["payment_mode_snapshot"])
        tenant_services.invoice_send(invoice_id=invoice.pk)
        tenant_services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="cash")
        assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    buyer, owner = tenant_recipients(stripe_tenant)
    assert receipts(TENANT_DB) == [("invoice_payment_receipt", [buyer]), ("invoice_payment_received", [owner])]
    assert "by hand" in OutboundEmail.objects.using(TENANT_DB).get(template="invoice_payment_receipt").text_body


def test_a_card_payment_of_a_marketplace_invoice_sends_the_receipts(fake_stripe):
    provider = ProviderFactory(payment_mode="stripe")
    connect_account(provider=provider)
    buyer = MarketplaceUserFactory(email="bea@example.test")
    tx = make_transaction(provider, buyer, amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    intent_id = services.invoice_payment_open(
        invoice_kind="marketplace", invoice_id=invoice.pk
    ).stripe_payment_intent_id
    pay_by_card(fake_stripe, intent_id)
    assert receipts(MARKETPLACE_DB) == [
        ("invoice_payment_receipt", ["bea@example.test"]),
        ("invoice_payment_received", [provider.user.email]),
    ]
