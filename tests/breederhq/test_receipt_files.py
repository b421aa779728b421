"""A receipt stored by a write that then fails is deleted again: no orphan files in storage.

Real PostgreSQL, real file storage in a per-test MEDIA_ROOT; the failure is a real one from the
database after the file was saved (a value longer than its column).
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import DataError

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from tenant_app import services as tenant_services
from tenant_app.models import Invoice, PaymentConfirmationAudit
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []


def test_a_tenant_receipt_is_deleted_when_the_claim_fails_after_the_file_was_saved(media):
    tenant = TenantFactory(marketplace_payment_mode="manual")
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        tenant_services.invoice_send(invoice_id=invoice.pk)
        # The audit row's payment_reference is 255 characters at most: the INSERT after the save fails.
        with pytest.raises(DataError):
            tenant_services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="x" * 256)
        assert _stored_files(media) == []
        assert (Invoice.objects.get(pk=invoice.pk).status, PaymentConfirmationAudit.objects.count()) == ("sent", 0)
        # The same claim done right keeps its file.
        tenant_services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="ok")
        kept = Invoice.objects.get(pk=invoice.pk).buyer_payment_receipt.name
        assert _stored_files(media) == [kept]


def test_a_marketplace_receipt_is_deleted_when_the_claim_fails_after_the_file_was_saved(media):
    provider, buyer = ProviderFactory(payment_mode="manual"), MarketplaceUserFactory()
    tx = make_transaction(provider, buyer, amount_cents=4000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 4000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    # buyer_payment_receipt_url is 500 characters at most: the UPDATE after the file save fails.
    with pytest.raises(DataError):
        marketplace_services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice.pk,
            buyer_id=buyer.pk,
            expected_version=2,
            receipt=ContentFile(b"%PDF-1.4 wire", name="wire.pdf"),
            receipt_url="https://x.test/" + "a" * 500,
        )
    assert _stored_files(media) == []
    assert MarketplaceInvoice.objects.get(pk=invoice.pk).status == "sent"
    marketplace_services.marketplace_invoice_buyer_mark_paid(
        invoice_id=invoice.pk,
        buyer_id=buyer.pk,
        expected_version=2,
        receipt=ContentFile(b"%PDF-1.4 wire", name="wire.pdf"),
    )
    assert _stored_files(media) == [MarketplaceInvoice.objects.get(pk=invoice.pk).buyer_payment_receipt.name]
