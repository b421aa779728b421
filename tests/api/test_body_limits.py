"""Every too-large request body is 413 problem+json with the limit, on tenant and marketplace
endpoints, with and without an Idempotency-Key; a receipt under its own limit but over Django's
in-memory body limit still goes through with a key (the idempotency layer reads it under the
endpoint's limit, not DATA_UPLOAD_MAX_MEMORY_SIZE)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from breederhq.api.uploads import MULTIPART_OVERHEAD_BYTES
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import IdempotencyKey
from breederhq.tenancy import tenant_context
from marketplace_app import services
from marketplace_app.models import MarketplaceInvoice
from tenant_app.models import Contact, Invoice
from tenant_app.services import invoice_send
from tests.api.conftest import bearer, body
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
DATA_LIMIT = 2_000  # DATA_UPLOAD_MAX_MEMORY_SIZE for these tests
RECEIPT_LIMIT = 10_000  # RECEIPT_MAX_BYTES for these tests
KEYS = [None, "big-1"]


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = DATA_LIMIT
    settings.RECEIPT_MAX_BYTES = RECEIPT_LIMIT


def pdf(size: int) -> bytes:
    return b"%PDF-1.4 " + b"x" * (size - 9)


def multipart(client, url: str, receipt: bytes, *, key: str | None, **fields):
    # The test client encodes the dict as multipart/form-data and sets Content-Length.
    return client.post(
        url,
        {"receipt": SimpleUploadedFile("r.pdf", receipt), **fields},
        headers={"Idempotency-Key": key} if key else None,
    )


def assert_413(response, *, limit: int, code: str = "payload_too_large") -> None:
    assert (response.status_code, response["Content-Type"]) == (413, "application/problem+json"), response.content
    problem = body(response)
    assert (problem["code"], problem["status"], problem["max_bytes"]) == (code, 413, limit)
    assert str(limit) in problem["detail"]


@pytest.fixture
def tenant_invoice(two_tenants):
    """A sent tenant invoice (version 2) and its owner's client."""
    tenant, _ = two_tenants
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
        invoice_send(invoice_id=invoice.pk)
    return tenant, bearer(tenant.owner_user), f"/api/v1/invoices/{invoice.pk}/receipt/", invoice.pk


@pytest.fixture
def marketplace_invoice():
    """A sent marketplace invoice (version 2) and its buyer's client."""
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer)
    invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
    services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    return bearer(buyer_login), f"/api/v1/marketplace/invoices/{invoice.pk}/receipt/", invoice.pk


def _tenant_invoice_status(tenant_id: int, invoice_id: int) -> str:
    with tenant_context(tenant_id):
        return Invoice.objects.get(pk=invoice_id).status


@pytest.mark.parametrize("key", KEYS)
class TestReceipts:
    def test_a_receipt_over_djangos_memory_limit_but_under_its_own_goes_through(
        self, key, tenant_invoice, marketplace_invoice
    ):
        tenant, tenant_client, tenant_url, tenant_invoice_id = tenant_invoice
        response = multipart(tenant_client, tenant_url, pdf(DATA_LIMIT * 3), key=key, version=2)
        assert (response.status_code, body(response)["status"]) == (200, "pending_confirmation"), response.content
        buyer_client, url, invoice_id = marketplace_invoice
        response = multipart(buyer_client, url, pdf(DATA_LIMIT * 3), key=key, version=2)
        assert (response.status_code, body(response)["status"]) == (200, "pending_confirmation"), response.content

    def test_a_receipt_over_its_limit_is_413(self, key, tenant_invoice, marketplace_invoice):
        tenant, tenant_client, tenant_url, tenant_invoice_id = tenant_invoice
        assert_413(
            multipart(tenant_client, tenant_url, pdf(RECEIPT_LIMIT + 1), key=key, version=2),
            limit=RECEIPT_LIMIT,
            code="receipt_too_large",
        )
        assert _tenant_invoice_status(tenant.pk, tenant_invoice_id) == "sent"
        buyer_client, url, invoice_id = marketplace_invoice
        assert_413(
            multipart(buyer_client, url, pdf(RECEIPT_LIMIT + 1), key=key, version=2),
            limit=RECEIPT_LIMIT,
            code="receipt_too_large",
        )
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice_id).status == "sent"

    def test_a_body_over_the_upload_limit_is_413_before_it_is_read(self, key, tenant_invoice, marketplace_invoice):
        limit = RECEIPT_LIMIT + MULTIPART_OVERHEAD_BYTES
        tenant, tenant_client, tenant_url, tenant_invoice_id = tenant_invoice
        assert_413(multipart(tenant_client, tenant_url, pdf(limit + 1), key=key, version=2), limit=limit)
        assert _tenant_invoice_status(tenant.pk, tenant_invoice_id) == "sent"
        buyer_client, url, invoice_id = marketplace_invoice
        assert_413(multipart(buyer_client, url, pdf(limit + 1), key=key, version=2), limit=limit)
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice_id).status == "sent"
        # A refused body is not a stored idempotent answer: the key still works for a proper upload.
        assert not IdempotencyKey.objects.using(TENANT_DB).filter(status="completed").exists()
        assert not IdempotencyKey.objects.using(MARKETPLACE_DB).filter(status="completed").exists()

    def test_form_fields_over_djangos_limit_in_a_multipart_body_are_413(self, key, marketplace_invoice):
        buyer_client, url, invoice_id = marketplace_invoice
        response = multipart(buyer_client, url, pdf(100), key=key, version=2, note="n" * (DATA_LIMIT + 1))
        assert_413(response, limit=DATA_LIMIT)
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice_id).status == "sent"


@pytest.mark.parametrize("key", KEYS)
def test_json_bodies_over_the_limit_are_413_on_tenant_and_marketplace_endpoints(key, two_tenants):
    tenant, _ = two_tenants
    headers = {"Idempotency-Key": key} if key else None
    big = json.dumps({"last_name": "x", "notes": "n" * DATA_LIMIT})
    response = bearer(tenant.owner_user).post(
        "/api/v1/contacts/", big, content_type="application/json", headers=headers
    )
    assert_413(response, limit=DATA_LIMIT)
    with tenant_context(tenant.pk):
        assert not Contact.objects.exists()
    provider_login, provider = provider_with_login()
    buyer_login, _ = person()
    response = bearer(buyer_login).post(
        "/api/v1/marketplace/threads/",
        json.dumps({"provider_id": provider.pk, "body": "b" * DATA_LIMIT}),
        content_type="application/json",
        headers=headers,
    )
    assert_413(response, limit=DATA_LIMIT)
    response = bearer(provider_login).patch(
        "/api/v1/marketplace/providers/me/",
        json.dumps({"description": "d" * DATA_LIMIT, "version": 1}),
        content_type="application/json",
        headers=headers,
    )
    assert_413(response, limit=DATA_LIMIT)


def test_sign_in_bodies_over_the_limit_are_413_too(client):
    response = client.post(
        "/api/v1/auth/token/",
        json.dumps({"email": "a@b.test", "password": "p" * DATA_LIMIT}),
        content_type="application/json",
    )
    assert_413(response, limit=DATA_LIMIT)
