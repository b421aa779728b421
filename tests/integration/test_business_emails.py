"""Business emails are recorded with the event that causes them, once per event."""

import pytest

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.errors import IllegalTransition
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from marketplace_app import services as market
from tenant_app import services as tenant
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory
from tests.factories.tenant import ContactFactory, TenantFactory, UserFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def emails(using=TENANT_DB):
    return list(OutboundEmail.objects.using(using).order_by("id").values_list("template", "to"))


def test_the_invoice_lifecycle_emails_the_right_people():
    owner = UserFactory(email="owner@kennel.test")
    kennel = TenantFactory(name="Sunny Kennels", owner=owner)
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, email="jamie@example.test")
        invoice = make_invoice(contact=contact, amounts=(12_345,))
        assert emails() == []  # a draft is private
        invoice = tenant.invoice_send(invoice_id=invoice.pk)
        invoice = tenant.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="ref 1")
        invoice = tenant.invoice_reject_payment(invoice_id=invoice.pk, actor=owner, reason="nothing arrived")
    assert emails() == [
        ("invoice_sent", ["jamie@example.test"]),
        ("invoice_buyer_marked_paid", ["owner@kennel.test"]),
        ("invoice_payment_rejected", ["jamie@example.test"]),
    ]
    sent = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_sent")
    assert sent.subject == f"Sunny Kennels: invoice {invoice.invoice_number} (123.45 USD)"
    rejected = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_payment_rejected")
    assert "Reason: nothing arrived" in rejected.text_body


def test_a_refused_action_sends_nothing():
    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, email="jamie@example.test")
        invoice = make_invoice(contact=contact)
        with pytest.raises(IllegalTransition):  # a draft has no payment to confirm
            tenant.invoice_confirm_payment(invoice_id=invoice.pk, actor=kennel.owner_user)
    assert emails() == []


def test_a_contact_without_an_email_gets_none():
    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, email="")
        invoice = make_invoice(contact=contact)
        tenant.invoice_send(invoice_id=invoice.pk)
    assert emails() == []


def test_a_new_message_emails_the_other_participant_in_the_marketplace_database():
    buyer = MarketplaceUserFactory(email="bea@example.test", display_name="Bea")
    provider = ProviderFactory()
    thread = market.message_thread_open(buyer_id=buyer.pk, provider_id=provider.pk, body="Hello!", subject="Grooming")
    market.message_send(thread_id=thread.pk, sender_id=provider.user_id, body="Tuesday works.")
    assert emails(MARKETPLACE_DB) == [
        ("marketplace_new_message", [provider.user.email]),
        ("marketplace_new_message", ["bea@example.test"]),
    ]
    assert emails(TENANT_DB) == []


def test_the_marketplace_invoice_lifecycle_emails_buyer_and_provider():
    buyer = MarketplaceUserFactory(email="bea@example.test")
    provider = ProviderFactory(business_name="Happy Paws")
    tx = market.transaction_create(provider_id=provider.pk, client_id=buyer.pk, amount_cents=6_500)
    invoice = market.marketplace_invoice_create(transaction_id=tx.pk, line_items=[market.LineItem("Groom", 6_500)])
    invoice = market.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=invoice.version)
    invoice = market.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk,
        buyer_id=buyer.pk,
        receipt_url="https://files.test/r.pdf",
        expected_version=invoice.version,
    )
    market.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    assert emails(MARKETPLACE_DB) == [
        ("invoice_sent", ["bea@example.test"]),
        ("invoice_buyer_marked_paid", [provider.user.email]),
        ("invoice_payment_confirmed", ["bea@example.test"]),
        # Every payment, whatever the channel: a receipt to the buyer, a notice to the provider.
        ("invoice_payment_receipt", ["bea@example.test"]),
        ("invoice_payment_received", [provider.user.email]),
    ]
    sent = OutboundEmail.objects.using(MARKETPLACE_DB).get(template="invoice_sent")
    assert sent.subject.startswith("Happy Paws: invoice ")
    assert "65.00 USD" in sent.subject


def test_redis_down_when_an_invoice_is_issued_loses_neither_invoice_nor_email(redis_broker_down):
    from breederhq.email import email_send, emails_due

    kennel = TenantFactory()
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, email="jamie@example.test")
        invoice = tenant.invoice_send(invoice_id=make_invoice(contact=contact).pk)
    assert invoice.status == "sent"
    email = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_sent")
    assert email.status == "queued" and email.pk in emails_due(using=TENANT_DB)
    # Redis is back: the sweep's send goes out once.
    email_send(using=TENANT_DB, pk=email.pk)
    email_send(using=TENANT_DB, pk=email.pk)
    from django.core import mail

    assert [m.to for m in mail.outbox] == [["jamie@example.test"]]
