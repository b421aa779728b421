"""Marketplace invoices: service providers only, payment-mode snapshot, receipts, versions, refunds,
and "paid" twice (webhook racing a manual confirmation) has one effect."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, IllegalTransition, PermissionDenied, ValidationFailed, VersionConflict
from marketplace_app import services
from marketplace_app.models import MarketplaceInvoice, MarketplaceInvoiceLineItem, MarketplaceTransaction, Provider
from marketplace_app.services import LineItem
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def _invoice(*, payment_mode="manual", amount_cents=10000, tax_cents=0):
    provider = ProviderFactory(payment_mode=payment_mode)
    buyer = MarketplaceUserFactory()
    tx = make_transaction(provider, buyer, amount_cents=amount_cents)
    invoice = services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 4000, 2), LineItem("Nails", 2000)], tax_cents=tax_cents
    )
    return provider, buyer, tx, invoice


def test_create_snapshots_payment_mode_totals_lines_and_links_the_transaction():
    provider, buyer, tx, invoice = _invoice(tax_cents=500)
    assert (invoice.status, invoice.version, invoice.payment_mode_snapshot) == ("draft", 1, "manual")
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (10000, 500, 10500)
    assert invoice.number == f"MP-{provider.pk}-000001"
    assert list(
        MarketplaceInvoiceLineItem.objects.filter(invoice=invoice).values_list(
            "description", "quantity", "unit_price_cents", "total_cents", "sort_order"
        )
    ) == [("Groom", 2, 4000, 8000, 0), ("Nails", 1, 2000, 2000, 1)]
    tx.refresh_from_db()
    assert (tx.status, tx.invoice_type, tx.invoice_id) == ("invoiced", "marketplace", invoice.pk)

    # The snapshot holds even when the provider switches mode afterwards.
    Provider.objects.filter(pk=provider.pk).update(payment_mode="stripe")
    invoice = services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    assert invoice.payment_mode_snapshot == "manual"


def test_breeders_cannot_have_marketplace_invoices():
    breeder = ProviderFactory(breeder=True)
    tx = make_transaction(breeder)
    with pytest.raises(PermissionDenied) as refused:
        services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("Puppy", 100000)])
    assert refused.value.code == "breeder_uses_tenant_invoice"
    assert MarketplaceInvoice.objects.count() == 0
    tx.refresh_from_db()
    assert (tx.status, tx.invoice_type, tx.invoice_id) == ("pending_invoice", None, None)
    # A breeder's transaction takes a tenant invoice instead, and only that kind.
    with pytest.raises(ValidationFailed):
        services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="marketplace", invoice_id=1)
    tx = services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=77)
    assert (tx.status, tx.invoice_type, tx.invoice_id) == ("invoiced", "tenant", 77)
    with pytest.raises(Conflict):
        services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=78)


def test_database_refuses_a_breeder_invoice_even_past_the_service():
    breeder = ProviderFactory(breeder=True)
    tx = make_transaction(breeder)
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceInvoice.objects.create(
            provider=breeder,
            transaction=tx,
            client=tx.client,
            number="X-1",
            payment_mode_snapshot="manual",
            payment_mode_locked_at=timezone.now(),
        )
    # ...and refuses turning a service provider with invoices into a breeder.
    provider, _buyer, _tx, _invoice_row = _invoice()
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        Provider.objects.filter(pk=provider.pk).update(kind="breeder", tenant_id=5)


def test_database_requires_a_receipt_for_a_manual_buyer_claim():
    _provider, _buyer, _tx, invoice = _invoice()
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceInvoice.objects.filter(pk=invoice.pk).update(buyer_marked_paid_at=timezone.now())


def test_manual_flow_buyer_claims_with_receipt_provider_confirms():
    provider, buyer, tx, invoice = _invoice()
    invoice = services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    with pytest.raises(ValidationFailed):
        services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice.pk, buyer_id=buyer.pk, receipt_url=None, expected_version=2
        )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.version, invoice.buyer_marked_paid_at) == ("sent", 2, None)

    invoice = services.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk, buyer_id=buyer.pk, receipt_url="https://files.test/receipt.pdf", expected_version=2
    )
    assert (invoice.status, invoice.version) == ("pending_confirmation", 3)
    with pytest.raises(Conflict):
        services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="stripe")
    invoice, changed = services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    assert changed and (invoice.status, invoice.version) == ("paid", 4)
    tx.refresh_from_db()
    provider.refresh_from_db()
    assert tx.status == "paid" and tx.paid_at is not None
    assert (provider.total_transactions, provider.total_revenue_cents) == (1, 10000)

    again, changed = services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    assert not changed and again.version == 4
    provider.refresh_from_db()
    assert provider.total_revenue_cents == 10000


def test_stale_version_is_a_conflict_and_changes_nothing():
    _provider, _buyer, _tx, invoice = _invoice()
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    with pytest.raises(VersionConflict) as stale:
        services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=1)
    assert stale.value.status == 409 and stale.value.extra == {"current_version": 2}
    invoice.refresh_from_db()
    assert (invoice.status, invoice.version) == ("sent", 2)


def test_illegal_transition_is_a_409():
    _provider, _buyer, _tx, invoice = _invoice()
    with pytest.raises(IllegalTransition) as illegal:
        services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    assert illegal.value.status == 409
    assert illegal.value.extra["current_status"] == "draft"


def test_void_cancels_the_transaction():
    provider, _buyer, tx, invoice = _invoice()
    services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=1)
    tx.refresh_from_db()
    provider.refresh_from_db()
    assert tx.status == "cancelled"
    assert provider.total_transactions == 0


def test_partial_then_full_refund_moves_transaction_and_revenue():
    provider, _buyer, tx, invoice = _invoice(payment_mode="stripe")
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="stripe")
    invoice = services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=2500)
    assert (invoice.status, invoice.refunded_cents) == ("partially_refunded", 2500)
    tx.refresh_from_db()
    provider.refresh_from_db()
    assert (tx.status, tx.refunded_cents, provider.total_revenue_cents) == ("paid", 2500, 7500)
    with pytest.raises(ValidationFailed):
        services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=7501)
    invoice = services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=7500)
    tx.refresh_from_db()
    provider.refresh_from_db()
    assert (invoice.status, tx.status, tx.refunded_cents, provider.total_revenue_cents) == (
        "refunded",
        "refunded",
        10000,
        0,
    )


def test_pending_confirmation_expires_back_to_sent_after_seven_days():
    _provider, buyer, _tx, invoice = _invoice()
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    services.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk, buyer_id=buyer.pk, receipt_url="https://files.test/r.png", expected_version=2
    )
    _p2, buyer2, _tx2, fresh = _invoice()
    services.marketplace_invoice_send(invoice_id=fresh.pk, expected_version=1)
    services.marketplace_invoice_buyer_mark_paid(
        invoice_id=fresh.pk, buyer_id=buyer2.pk, receipt_url="https://files.test/r2.png", expected_version=2
    )
    MarketplaceInvoice.objects.filter(pk=invoice.pk).update(
        buyer_marked_paid_at=timezone.now() - timedelta(days=7, minutes=1)
    )

    assert services.marketplace_invoice_expire_pending_confirmations() == 1
    invoice.refresh_from_db()
    fresh.refresh_from_db()
    assert (invoice.status, invoice.buyer_marked_paid_at) == ("sent", None)
    assert fresh.status == "pending_confirmation"
    assert services.marketplace_invoice_expire_pending_confirmations() == 0


def test_only_one_live_invoice_per_transaction():
    _provider, _buyer, tx, invoice = _invoice()
    with pytest.raises(Conflict) as refused:
        services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("again", 1)])
    assert refused.value.code == "already_invoiced"
    assert MarketplaceInvoice.objects.filter(transaction=tx).count() == 1


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_webhook_racing_manual_confirmation_has_one_effect():
    provider = ProviderFactory(payment_mode="manual")
    buyer = MarketplaceUserFactory()
    tx = make_transaction(provider, buyer, amount_cents=10000)
    invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("Groom", 10000)])
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    services.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk, buyer_id=buyer.pk, receipt_url="https://files.test/r.pdf", expected_version=2
    )
    barrier = threading.Barrier(4)
    results, errors = [], []

    def confirm():
        try:
            barrier.wait()
            results.append(services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == [False, False, False, True]
    invoice.refresh_from_db()
    tx.refresh_from_db()
    provider.refresh_from_db()
    assert (invoice.status, invoice.version) == ("paid", 4)
    assert tx.status == MarketplaceTransaction.Status.PAID
    assert (provider.total_transactions, provider.total_revenue_cents) == (1, 10000)


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_two_editors_with_the_same_version_one_wins_one_gets_409():
    _provider, _buyer, _tx, invoice = _invoice()
    barrier = threading.Barrier(2)
    outcomes = []

    def send():
        try:
            barrier.wait()
            services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
            outcomes.append("sent")
        except VersionConflict:
            outcomes.append("conflict")
        except IllegalTransition:
            outcomes.append("illegal")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "sent"]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.version) == ("sent", 2)


# --- transaction_cancel and a marketplace invoice: the rule lives in the service ------------------


@pytest.mark.parametrize("invoice_state", ["draft", "sent", "pending_confirmation"])
def test_cancel_refuses_a_sale_whose_marketplace_invoice_is_live(invoice_state):
    from breederhq.outbox import OutboxMessage

    provider, buyer, tx, invoice = _invoice()
    if invoice_state != "draft":
        invoice = services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    if invoice_state == "pending_confirmation":
        services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice.pk, buyer_id=buyer.pk, expected_version=2, receipt_url="https://files.test/r.pdf"
        )
    before = MarketplaceTransaction.objects.values().get(pk=tx.pk)
    with pytest.raises(Conflict) as refused:
        services.transaction_cancel(transaction_id=tx.pk)
    assert (refused.value.status, refused.value.code, refused.value.extra) == (
        409,
        "void_the_invoice",
        {"invoice_id": invoice.pk, "invoice_status": invoice_state},
    )
    assert MarketplaceTransaction.objects.values().get(pk=tx.pk) == before
    assert MarketplaceInvoice.objects.get(pk=invoice.pk).status == invoice_state
    assert Provider.objects.get(pk=provider.pk).total_transactions == 1
    assert not OutboxMessage.objects.using(MARKETPLACE_DB).filter(topic="marketplace.transaction_cancelled").exists()


def test_cancel_of_a_paid_marketplace_sale_is_an_illegal_transition():
    provider, buyer, tx, invoice = _invoice()
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    with pytest.raises(IllegalTransition):
        services.transaction_cancel(transaction_id=tx.pk)
    assert MarketplaceTransaction.objects.get(pk=tx.pk).status == "paid"


def test_a_voided_invoice_no_longer_stands_in_the_way():
    provider, buyer, tx, invoice = _invoice()
    # Voiding cancels the sale itself; put the sale back to invoiced to reach the service's check
    # with a void invoice (as an older row, voided before voids cancelled the sale, would be).
    services.marketplace_invoice_void(invoice_id=invoice.pk, expected_version=1)
    MarketplaceTransaction.objects.filter(pk=tx.pk).update(status="invoiced", cancelled_at=None)
    Provider.objects.filter(pk=provider.pk).update(total_transactions=1)
    cancelled = services.transaction_cancel(transaction_id=tx.pk)
    assert (cancelled.status, Provider.objects.get(pk=provider.pk).total_transactions) == ("cancelled", 0)


def test_the_buyer_claims_with_an_uploaded_receipt_stored_through_django_storage(settings, tmp_path):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = str(tmp_path / "media")
    provider, buyer, tx, invoice = _invoice()
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    with pytest.raises(ValidationFailed):
        services.marketplace_invoice_buyer_mark_paid(invoice_id=invoice.pk, buyer_id=buyer.pk, expected_version=2)
    claimed = services.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk,
        buyer_id=buyer.pk,
        expected_version=2,
        receipt=ContentFile(b"%PDF-1.4 wire", name="wire.pdf"),
    )
    stored = MarketplaceInvoice.objects.get(pk=claimed.pk)
    assert (stored.status, stored.version, stored.buyer_payment_receipt_url) == ("pending_confirmation", 3, None)
    assert stored.buyer_payment_receipt.name.startswith(f"marketplace/receipts/{provider.pk}/{invoice.pk}/wire")
    assert (tmp_path / "media" / stored.buyer_payment_receipt.name).read_bytes() == b"%PDF-1.4 wire"


def test_database_accepts_a_file_receipt_but_not_no_receipt():
    _provider, _buyer, _tx, invoice = _invoice()
    MarketplaceInvoice.objects.filter(pk=invoice.pk).update(
        buyer_marked_paid_at=timezone.now(), buyer_payment_receipt="marketplace/receipts/x.pdf"
    )
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceInvoice.objects.filter(pk=invoice.pk).update(buyer_payment_receipt="")
