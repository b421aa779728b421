"""Stored receipts are read only through the API, by those who may see the invoice; MEDIA_URL is not served."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services
from tenant_app.models import Invoice
from tests.api.conftest import bearer, member, send_json
from tests.api.test_marketplace_endpoints import TestBuyerReceipt, person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
PDF = b"%PDF-1.4 bank transfer receipt"
PNG = b"\x89PNG\r\n\x1a\n a receipt photo"


def _file(response) -> bytes:
    return b"".join(response.streaming_content)


def _assert_download(response, content: bytes, kind: str, filename: str):
    assert response.status_code == 200, response.content
    assert (response["Content-Type"], _file(response)) == (kind, content)
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert (response["Cache-Control"], response["X-Content-Type-Options"]) == ("private, no-store", "nosniff")


def _problem(response, status_code: int, code: str):
    assert (response.status_code, response["Content-Type"]) == (status_code, "application/problem+json"), response
    assert response.json()["code"] == code


def test_tenant_receipt_members_download_it_others_are_refused():
    a, b = TenantFactory(name="A"), TenantFactory(name="B")
    with tenant_context(a.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=a))
    url = f"/api/v1/invoices/{invoice.pk}/receipt/"
    owner = bearer(a.owner_user)
    send_json(owner, "patch", f"/api/v1/invoices/{invoice.pk}/", {"action": "send", "version": 1})
    _problem(owner.get(url), 404, "receipt_missing")  # nothing uploaded yet
    assert owner.post(url, {"receipt": SimpleUploadedFile("r.png", PNG), "version": 2}).status_code == 200
    with tenant_context(a.pk):
        number = Invoice.objects.get(pk=invoice.pk).invoice_number
    _assert_download(owner.get(url, headers={"Accept": "image/png"}), PNG, "image/png", f"receipt-{number}.png")
    _assert_download(bearer(member(a, "viewer")).get(url), PNG, "image/png", f"receipt-{number}.png")
    _problem(bearer(b.owner_user).get(url), 404, "not_found")  # another tenant's invoice is not there
    _problem(Client().get(url), 401, "not_authenticated")
    service_provider_login, _ = person("service_provider")
    with tenant_context(a.pk):  # even as a member, a service provider never reads breeder data
        from tenant_app.models import TenantMembership

        TenantMembership.objects.create(tenant=a, user=service_provider_login, role="owner")
    _problem(bearer(service_provider_login).get(url), 403, "not_a_breeder")


def test_media_url_does_not_serve_receipts(settings):
    a = TenantFactory()
    with tenant_context(a.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=a))
    owner = bearer(a.owner_user)
    send_json(owner, "patch", f"/api/v1/invoices/{invoice.pk}/", {"action": "send", "version": 1})
    owner.post(f"/api/v1/invoices/{invoice.pk}/receipt/", {"receipt": SimpleUploadedFile("r.pdf", PDF), "version": 2})
    with tenant_context(a.pk):
        name = Invoice.objects.get(pk=invoice.pk).buyer_payment_receipt.name
    assert name
    for client in (Client(), owner):
        assert client.get(f"/{settings.MEDIA_URL}{name}").status_code == 404


def test_marketplace_receipt_the_buyer_and_the_provider_download_it_nobody_else():
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    invoice = services.marketplace_invoice_create(
        transaction_id=make_transaction(provider, buyer, amount_cents=100).pk, line_items=[services.LineItem("A", 100)]
    )
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    url = f"/api/v1/marketplace/invoices/{invoice.pk}/receipt/"
    buyer_client, provider_client = bearer(buyer_login), bearer(provider_login)
    _problem(buyer_client.get(url), 404, "receipt_missing")
    uploaded = buyer_client.post(url, {"receipt": SimpleUploadedFile("wire.pdf", PDF), "version": 2})
    assert uploaded.status_code == 200, uploaded.content
    for client in (buyer_client, provider_client):
        _assert_download(
            client.get(url, headers={"Accept": "application/pdf"}),
            PDF,
            "application/pdf",
            f"receipt-{invoice.number}.pdf",
        )
    outsider_login, _ = person()
    other_provider_login, _ = provider_with_login()
    for client in (bearer(outsider_login), bearer(other_provider_login)):
        _problem(client.get(url), 404, "not_found")
    _problem(Client().get(url), 401, "not_authenticated")


def test_breeder_invoice_receipt_the_buyer_downloads_theirs_the_breeders_staff_theirs():
    tenant, buyer_login, tx, invoice = TestBuyerReceipt()._breeder_sale()
    url = f"/api/v1/marketplace/transactions/{tx.pk}/receipt/"
    buyer_client = bearer(buyer_login)
    _problem(buyer_client.get(url), 404, "receipt_missing")
    assert buyer_client.post(url, {"receipt": SimpleUploadedFile("r.pdf", PDF)}).status_code == 200
    with tenant_context(tenant.pk):
        number = Invoice.objects.get(pk=invoice.pk).invoice_number
    _assert_download(buyer_client.get(url), PDF, "application/pdf", f"receipt-{number}.pdf")
    _assert_download(
        bearer(tenant.owner_user).get(f"/api/v1/invoices/{invoice.pk}/receipt/"),
        PDF,
        "application/pdf",
        f"receipt-{number}.pdf",
    )
    outsider_login, _ = person()
    _problem(bearer(outsider_login).get(url), 404, "not_found")
    _problem(bearer(TenantFactory().owner_user).get(f"/api/v1/invoices/{invoice.pk}/receipt/"), 404, "not_found")
