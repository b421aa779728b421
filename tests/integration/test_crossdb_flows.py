"""The three real cross-database flows, end to end across both databases through the outbox."""

import pytest
from django.core.management import call_command

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import AppliedMessage, CrossDbReference, OutboxMessage
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as market
from marketplace_app.models import MarketplaceTransaction, MarketplaceUser
from tenant_app import services as tenant
from tenant_app.models import Contact, Invoice
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)


@pytest.fixture
def breeder_sale():
    """A breeder (tenant + marketplace provider), a buyer, a transaction billed by a tenant invoice."""
    kennel = TenantFactory(name="Sunny Kennels")
    buyer = MarketplaceUserFactory(kind="buyer")
    provider = ProviderFactory(breeder=True, tenant_id=kennel.pk)
    tx = make_transaction(provider, buyer, amount_cents=150_000)
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel, marketplace_user_id=buyer.pk)
        invoice = make_invoice(contact=contact, amounts=(150_000,), is_marketplace_invoice=True)
        invoice = tenant.invoice_send(invoice_id=invoice.pk)
    market.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    return kennel, buyer, tx, invoice, contact


def relay_all():
    outcomes = outbox_relay_due()
    assert "retry" not in outcomes and "stuck" not in outcomes, outcomes
    return outcomes


def test_the_transaction_records_its_tenant_invoice_in_the_registry(breeder_sale):
    _kennel, _buyer, tx, invoice, _contact = breeder_sale
    ref = CrossDbReference.objects.using(MARKETPLACE_DB).get(source_table="marketplace_transactions", source_id=tx.pk)
    assert (ref.target_db, ref.target_table, ref.target_id) == (TENANT_DB, "invoices", invoice.pk)
    assert run_crossdb_check()["problems"] == []


def test_tenant_invoice_paid_marks_the_marketplace_transaction_paid_once(breeder_sale):
    kennel, _buyer, tx, invoice, _contact = breeder_sale
    with tenant_context(kennel.pk):
        tenant.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="pay-1")
    message = OutboxMessage.objects.using(TENANT_DB).get(topic="tenant.invoice_paid")
    assert message.payload == {"invoice_id": invoice.pk, "tenant_id": kennel.pk}
    assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "invoiced"

    relay_all()
    relay_all()  # a second sweep finds nothing to do
    tx.refresh_from_db()
    assert tx.status == "paid"
    assert AppliedMessage.objects.using(MARKETPLACE_DB).filter(message_id=message.message_id).count() == 1
    assert run_crossdb_check()["problems"] == []


def test_cancelling_the_transaction_voids_the_unpaid_tenant_invoice(breeder_sale):
    kennel, _buyer, tx, invoice, _contact = breeder_sale
    market.transaction_cancel(transaction_id=tx.pk)
    relay_all()
    with tenant_context(kennel.pk):
        invoice = Invoice.all_objects.get(pk=invoice.pk)
    assert invoice.status == "void"
    assert run_crossdb_check()["problems"] == []


def test_cancelling_after_the_buyer_claims_payment_leaves_the_invoice_for_a_human(breeder_sale):
    from tests.factories.tenant import receipt_file

    kennel, _buyer, tx, invoice, _contact = breeder_sale
    with tenant_context(kennel.pk):
        tenant.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="bank ref 42")
    market.transaction_cancel(transaction_id=tx.pk)
    relay_all()
    with tenant_context(kennel.pk):
        assert Invoice.all_objects.get(pk=invoice.pk).status == "pending_confirmation"


def test_erasing_a_marketplace_user_unlinks_contacts_in_every_tenant(breeder_sale):
    kennel, buyer, _tx, _invoice, contact = breeder_sale
    other = TenantFactory(name="Moon Cattery")
    with tenant_context(other.pk):
        other_contact = ContactFactory(tenant=other, marketplace_user_id=buyer.pk)
    assert (
        CrossDbReference.objects.using(TENANT_DB).filter(target_table="marketplace_users", target_id=buyer.pk).count()
        == 2
    )

    market.marketplace_user_erase(user_id=buyer.pk)
    erased = MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(pk=buyer.pk)
    assert (erased.display_name, erased.is_deleted) == ("Erased user", True)
    relay_all()

    for tenant_id, contact_id in ((kennel.pk, contact.pk), (other.pk, other_contact.pk)):
        with tenant_context(tenant_id):
            assert Contact.all_objects.get(pk=contact_id).marketplace_user_id is None
    assert (
        not CrossDbReference.objects.using(TENANT_DB)
        .filter(target_table="marketplace_users", target_id=buyer.pk)
        .exists()
    )
    # Erasing again changes nothing and sends nothing.
    market.marketplace_user_erase(user_id=buyer.pk)
    assert OutboxMessage.objects.using(MARKETPLACE_DB).filter(topic="marketplace.user_erased").count() == 1
    assert run_crossdb_check()["problems"] == []


def test_paid_before_the_transaction_links_the_invoice_is_retried_not_lost():
    kennel = TenantFactory()
    provider = ProviderFactory(breeder=True, tenant_id=kennel.pk)
    tx = make_transaction(provider, amount_cents=5_000)
    with tenant_context(kennel.pk):
        contact = ContactFactory(tenant=kennel)
        invoice = make_invoice(contact=contact, amounts=(5_000,), is_marketplace_invoice=True)
        tenant.invoice_send(invoice_id=invoice.pk)
        tenant.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="early")
    assert outbox_relay_due() == {"retry": 1}
    message = OutboxMessage.objects.using(TENANT_DB).get(topic="tenant.invoice_paid")
    assert "no marketplace transaction bills tenant invoice" in message.last_error

    market.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    OutboxMessage.objects.using(TENANT_DB).filter(pk=message.pk).update(next_attempt_at=message.created_at)
    relay_all()
    assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "paid"


@pytest.mark.worker
def test_a_real_worker_relays_the_invoice_paid_flow(breeder_sale, celery_worker):
    kennel, _buyer, tx, invoice, _contact = breeder_sale
    with tenant_context(kennel.pk):
        tenant.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="pay-w")
    assert wait_until(
        lambda: MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "paid",
        timeout=30,
        interval=0.2,
    )
    call_command("crossdb_check")
