"""Marketplace invoices, transaction cancel and provider profiles through the API."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.outbox import OutboxMessage
from marketplace_app import services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction, Provider
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import ProviderFactory, make_listing, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
M = "/api/v1/marketplace/"
LINES = [
    {"description": "Full groom", "unit_price_cents": 6000, "quantity": 1},
    {"description": "Nail trim", "unit_price_cents": 1000, "quantity": 2},
]


def _stored(invoice_id: int) -> MarketplaceInvoice:
    return MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=invoice_id)


@pytest.fixture
def sale():
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=8000)
    return bearer(provider_login), bearer(buyer_login), provider, buyer, tx


class TestMarketplaceInvoices:
    def test_create_send_buyer_claims_provider_confirms(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        created = send_json(
            provider_client, "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": LINES, "tax_cents": 500}
        )
        assert created.status_code == 201, created.content
        invoice = body(created)
        assert (
            invoice["status"],
            invoice["version"],
            invoice["subtotal_cents"],
            invoice["total_cents"],
            invoice["client_id"],
            [line["total_cents"] for line in invoice["line_items"]],
        ) == ("draft", 1, 8000, 8500, buyer.pk, [6000, 2000])
        assert created["ETag"] == '"1"'
        url = f"{M}invoices/{invoice['id']}/"
        sent = send_json(provider_client, "patch", url, {"action": "send"}, **{"If-Match": '"1"'})
        assert (sent.status_code, body(sent)["status"], body(sent)["version"]) == (200, "sent", 2)
        claimed = send_json(
            buyer_client, "patch", url, {"action": "mark_paid", "version": 2, "receipt_url": "https://files.test/r.pdf"}
        )
        assert (claimed.status_code, body(claimed)["status"], body(claimed)["buyer_payment_receipt_url"]) == (
            200,
            "pending_confirmation",
            "https://files.test/r.pdf",
        )
        confirmed = send_json(provider_client, "patch", url, {"action": "confirm_payment", "version": 3})
        assert (confirmed.status_code, body(confirmed)["status"]) == (200, "paid")
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "paid"
        refunded = send_json(provider_client, "patch", url, {"action": "refund", "amount_cents": 500, "version": 4})
        assert (body(refunded)["status"], body(refunded)["refunded_cents"]) == ("partially_refunded", 500)

    def test_each_side_lists_its_own_and_nobody_else_sees_them(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
        outsider_login, _ = person()
        other_provider_login, _ = provider_with_login()
        ids = lambda client, **p: [i["id"] for i in body(client.get(f"{M}invoices/", p))["results"]]  # noqa: E731
        assert ids(provider_client, **{"as": "provider"}) == [invoice.pk]
        assert ids(buyer_client) == [invoice.pk]
        assert ids(provider_client) == []
        assert ids(bearer(outsider_login)) == []
        assert ids(bearer(other_provider_login), **{"as": "provider"}) == []
        url = f"{M}invoices/{invoice.pk}/"
        assert buyer_client.get(url).status_code == 200
        for client in (bearer(outsider_login), bearer(other_provider_login)):
            assert client.get(url).status_code == 404
            assert send_json(client, "patch", url, {"action": "void", "version": 1}).status_code == 404
        assert Client().get(url).status_code == 401
        refused = bearer(outsider_login).get(f"{M}invoices/", {"as": "provider"})
        assert (refused.status_code, body(refused)["code"]) == (403, "not_a_provider")
        assert buyer_client.get(f"{M}invoices/", {"status": "lost"}).status_code == 400
        assert _stored(invoice.pk).status == "draft"

    def test_roles_per_action_and_foreign_transactions(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
        url = f"{M}invoices/{invoice.pk}/"
        refused = send_json(buyer_client, "patch", url, {"action": "send", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
        refused = send_json(
            provider_client,
            "patch",
            url,
            {"action": "mark_paid", "version": 1, "receipt_url": "https://files.test/r.pdf"},
        )
        assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
        assert _stored(invoice.pk).version == 1
        other_login, other_provider = provider_with_login()
        foreign = make_transaction(other_provider, buyer)
        response = send_json(
            provider_client, "post", f"{M}invoices/", {"transaction_id": foreign.pk, "line_items": LINES}
        )
        assert response.status_code == 404
        buyer_post = send_json(buyer_client, "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": LINES})
        assert (buyer_post.status_code, body(buyer_post)["code"]) == (403, "not_a_provider")
        assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).filter(transaction=foreign).exists()

    def test_breeders_bill_with_tenant_invoices(self):
        login, identity = person("breeder")
        breeder = ProviderFactory(user=identity, breeder=True)
        tx = make_transaction(breeder)
        response = send_json(bearer(login), "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": LINES})
        assert (response.status_code, body(response)["code"]) == (403, "breeder_uses_tenant_invoice")
        assert not MarketplaceInvoice.objects.using(MARKETPLACE_DB).exists()

    def test_stale_version_missing_version_and_bad_input(self, sale):
        provider_client, _, _, _, tx = sale
        invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
        services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        url = f"{M}invoices/{invoice.pk}/"
        stale = send_json(provider_client, "patch", url, {"action": "void", "version": 1})
        assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 2)
        assert send_json(provider_client, "patch", url, {"action": "void"}).status_code == 400
        assert send_json(provider_client, "patch", url, {"action": "void"}, **{"If-Match": "x"}).status_code == 400
        assert send_json(provider_client, "patch", url, {"action": "refund", "version": 2}).status_code == 400
        assert send_json(provider_client, "patch", url, {"action": "explode", "version": 2}).status_code == 400
        illegal = send_json(provider_client, "patch", url, {"action": "reject_payment", "version": 2})
        assert (illegal.status_code, body(illegal)["code"]) == (409, "illegal_transition")
        assert (
            send_json(provider_client, "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": []}).status_code
            == 400
        )
        assert send_json(provider_client, "post", f"{M}invoices/", "not json").status_code == 400
        stored = _stored(invoice.pk)
        assert (stored.status, stored.version) == ("sent", 2)
        voided = send_json(provider_client, "patch", url, {"action": "void", "version": 2})
        assert (voided.status_code, body(voided)["status"]) == (200, "void")
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "cancelled"

    def test_idempotent_create_replays(self, sale):
        provider_client, _, _, _, tx = sale
        payload = {"transaction_id": tx.pk, "line_items": LINES}
        first = send_json(provider_client, "post", f"{M}invoices/", payload, **{"Idempotency-Key": "inv-1"})
        again = send_json(provider_client, "post", f"{M}invoices/", payload, **{"Idempotency-Key": "inv-1"})
        assert (first.status_code, again["Idempotent-Replayed"], body(again)) == (201, "true", body(first))
        assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).count() == 1

    def test_the_invoice_list_runs_constant_queries_per_database(self):
        provider_login, provider = provider_with_login()
        _, buyer = person()
        for _ in range(100):
            tx = make_transaction(provider, buyer)
            services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
        client = bearer(provider_login)
        client.get(f"{M}invoices/", {"as": "provider"})  # warm: the first read fills the identity cache
        per_size = {}
        for size in (1, 10, 100):
            with (
                CaptureQueriesContext(connections[TENANT_DB]) as tenant_db,
                CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db,
            ):
                response = client.get(f"{M}invoices/", {"page_size": size, "as": "provider"})
            assert len(body(response)["results"]) == size
            per_size[size] = (len(tenant_db), len(marketplace_db))
        assert len(set(per_size.values())) == 1, per_size


class TestTransactionCancel:
    def test_buyer_or_provider_cancels_while_unpaid_and_outsiders_get_404(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        outsider_login, _ = person()
        url = f"{M}transactions/{tx.pk}/"
        assert send_json(bearer(outsider_login), "patch", url, {"action": "cancel"}).status_code == 404
        assert send_json(buyer_client, "patch", url, {"action": "refund"}).status_code == 400
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "pending_invoice"
        cancelled = send_json(buyer_client, "patch", url, {"action": "cancel"})
        assert (cancelled.status_code, body(cancelled)["status"]) == (200, "cancelled")
        again = send_json(provider_client, "patch", url, {"action": "cancel"})
        assert (again.status_code, body(again)["code"]) == (409, "illegal_transition")
        other = make_transaction(provider, buyer)
        assert (
            send_json(provider_client, "patch", f"{M}transactions/{other.pk}/", {"action": "cancel"}).status_code == 200
        )
        assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).total_transactions == 0

    def test_a_paid_sale_is_not_cancelled(self, sale):
        _, buyer_client, _, _, tx = sale
        services.transaction_mark_paid(transaction_id=tx.pk)
        refused = send_json(buyer_client, "patch", f"{M}transactions/{tx.pk}/", {"action": "cancel"})
        assert (refused.status_code, body(refused)["code"]) == (409, "illegal_transition")
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "paid"

    def test_a_marketplace_invoiced_sale_is_voided_through_its_invoice(self, sale):
        _, buyer_client, _, _, tx = sale
        services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("A", 100)])
        refused = send_json(buyer_client, "patch", f"{M}transactions/{tx.pk}/", {"action": "cancel"})
        assert (refused.status_code, body(refused)["code"]) == (409, "void_the_invoice")
        assert MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk).status == "invoiced"

    def test_cancelling_a_breeders_sale_writes_the_outbox_message(self):
        login, identity = person("breeder")
        breeder = ProviderFactory(user=identity, breeder=True)
        buyer_login, buyer = person()
        tx = make_transaction(breeder, buyer)
        services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=77)
        response = send_json(bearer(buyer_login), "patch", f"{M}transactions/{tx.pk}/", {"action": "cancel"})
        assert response.status_code == 200
        messages = list(
            OutboxMessage.objects.using(MARKETPLACE_DB)
            .filter(topic="marketplace.transaction_cancelled")
            .values_list("payload", flat=True)
        )
        assert messages == [{"transaction_id": tx.pk, "invoice_id": 77, "tenant_id": breeder.tenant_id}]


class TestProviders:
    def test_public_detail_with_active_listings_only(self):
        _, provider = provider_with_login(business_name="Happy Paws", description="Groomers")
        make_listing(provider, slug="a", title="A")
        make_listing(provider, slug="b", title="B")
        make_listing(provider, slug="draft", publish=False)
        response = Client().get(f"{M}providers/{provider.pk}/")
        assert response.status_code == 200
        detail = body(response)
        assert (
            detail["business_name"],
            detail["description"],
            [listing["slug"] for listing in detail["listings"]],
        ) == (
            "Happy Paws",
            "Groomers",
            ["b", "a"],
        )
        assert "payment_mode" not in detail
        services.provider_delete(provider_id=provider.pk)
        assert Client().get(f"{M}providers/{provider.pk}/").status_code == 404
        assert Client().get(f"{M}providers/999999/").status_code == 404

    def test_the_detail_runs_constant_queries_whatever_the_listings(self):
        _, few = provider_with_login()
        _, many = provider_with_login()
        make_listing(few, slug="one")
        for i in range(30):
            make_listing(many, slug=f"m-{i}")
        counts = []
        for provider in (few, many):
            with CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace_db:
                assert Client().get(f"{M}providers/{provider.pk}/").status_code == 200
            counts.append(len(marketplace_db))
        assert counts[0] == counts[1]

    def test_a_provider_edits_its_own_profile_only(self):
        provider_login, provider = provider_with_login(business_name="Old")
        buyer_login, _ = person()
        client = bearer(provider_login)
        assert body(client.get(f"{M}providers/me/"))["business_name"] == "Old"
        updated = send_json(
            client, "patch", f"{M}providers/me/", {"business_name": "New", "city": "Dallas", "version": 1}
        )
        assert (updated.status_code, body(updated)["business_name"], body(updated)["city"]) == (200, "New", "Dallas")
        stored = Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk)
        assert (stored.business_name, stored.city, stored.state) == ("New", "Dallas", "TX")
        for bad in (
            {"payment_mode": "stripe", "version": 2},
            {"kind": "breeder", "version": 2},
            {"version": 2},
            {"business_name": "", "version": 2},
        ):
            assert send_json(client, "patch", f"{M}providers/me/", bad).status_code == 400, bad
        refused = send_json(bearer(buyer_login), "patch", f"{M}providers/me/", {"business_name": "Mine", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (403, "not_a_provider")
        stored = Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk)
        assert (stored.business_name, stored.payment_mode, stored.kind) == ("New", "manual", "service_provider")


PDF = b"%PDF-1.4 bank transfer receipt"


def _sent_invoice(tx) -> MarketplaceInvoice:
    invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[services.LineItem("Groom", 8000)])
    return services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)


def upload(client: Client, invoice_id: int, content: bytes = PDF, *, boundary: str | None = None, **fields):
    """A multipart upload; `boundary` picks the envelope's boundary (clients choose a new one per attempt)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import BOUNDARY, encode_multipart

    headers = {name.replace("_", "-"): value for name, value in fields.pop("headers", {}).items()}
    data = {"receipt": SimpleUploadedFile("receipt.pdf", content, content_type="application/pdf"), **fields}
    boundary = boundary or BOUNDARY
    return client.post(
        f"{M}invoices/{invoice_id}/receipt/",
        encode_multipart(boundary, data),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=headers or None,
    )


class TestReceiptUpload:
    def test_the_buyer_uploads_the_file_and_the_provider_confirms(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        invoice = _sent_invoice(tx)
        response = upload(buyer_client, invoice.pk, version=2)
        assert response.status_code == 200, response.content
        out = body(response)
        assert (
            out["status"],
            out["version"],
            out["has_receipt"],
            out["buyer_payment_receipt_url"],
            response["ETag"],
        ) == ("pending_confirmation", 3, True, None, '"3"')
        stored = _stored(invoice.pk)
        assert stored.buyer_payment_receipt.name.startswith(f"marketplace/receipts/{provider.pk}/{invoice.pk}/")
        with stored.buyer_payment_receipt.open("rb") as saved:  # through Django's storage
            assert saved.read() == PDF
        confirmed = send_json(
            provider_client, "patch", f"{M}invoices/{invoice.pk}/", {"action": "confirm_payment", "version": 3}
        )
        assert (confirmed.status_code, body(confirmed)["status"]) == (200, "paid")

    def test_who_may_upload(self, sale):
        provider_client, buyer_client, provider, buyer, tx = sale
        invoice = _sent_invoice(tx)
        outsider_login, _ = person()
        other_provider_login, _ = provider_with_login()
        assert upload(Client(), invoice.pk, version=2).status_code == 401
        for client in (bearer(outsider_login), bearer(other_provider_login)):
            assert upload(client, invoice.pk, version=2).status_code == 404
        refused = upload(provider_client, invoice.pk, version=2)
        assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
        stored = _stored(invoice.pk)
        assert (stored.status, stored.version, stored.buyer_payment_receipt.name) == ("sent", 2, "")

    @pytest.mark.parametrize(
        "content, status_code, code",
        [
            (b"MZ\x90\x00 an executable", 400, "receipt_type_refused"),
            (b"", 400, "validation_failed"),
            (b"%PDF-" + b"x" * 2048, 413, "receipt_too_large"),
        ],
    )
    def test_the_file_is_checked_by_content_and_size(self, sale, settings, content, status_code, code):
        _, buyer_client, _, _, tx = sale
        settings.RECEIPT_MAX_BYTES = 1024
        invoice = _sent_invoice(tx)
        response = upload(buyer_client, invoice.pk, content, version=2)
        assert (response.status_code, response["Content-Type"], body(response)["code"]) == (
            status_code,
            "application/problem+json",
            code,
        )
        if status_code == 413:
            assert body(response)["max_bytes"] == 1024 and "1024" in body(response)["detail"]
        assert _stored(invoice.pk).status == "sent"

    def test_version_is_required_and_a_stale_one_is_409(self, sale):
        _, buyer_client, _, _, tx = sale
        invoice = _sent_invoice(tx)
        missing = upload(buyer_client, invoice.pk)
        assert (missing.status_code, body(missing)["code"]) == (400, "validation_failed")
        stale = upload(buyer_client, invoice.pk, version=1)
        assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 2)
        by_header = upload(buyer_client, invoice.pk, headers={"If-Match": '"2"'})
        assert (by_header.status_code, body(by_header)["status"]) == (200, "pending_confirmation")
        again = upload(buyer_client, invoice.pk, version=3)
        assert (again.status_code, body(again)["code"]) == (409, "illegal_transition")

    def test_idempotent_retry_with_another_boundary_replays(self, sale):
        _, buyer_client, _, _, tx = sale
        invoice = _sent_invoice(tx)
        first = upload(
            buyer_client, invoice.pk, version=2, boundary="first-attempt", headers={"Idempotency-Key": "receipt-1"}
        )
        retry = upload(
            buyer_client, invoice.pk, version=2, boundary="second-attempt", headers={"Idempotency-Key": "receipt-1"}
        )
        assert (first.status_code, retry.status_code, retry["Idempotent-Replayed"], body(retry)) == (
            200,
            200,
            "true",
            body(first),
        )
        other_file = upload(
            buyer_client, invoice.pk, b"%PDF-1.4 another", version=2, headers={"Idempotency-Key": "receipt-1"}
        )
        assert (other_file.status_code, body(other_file)["code"]) == (422, "idempotency_key_reused")
        assert _stored(invoice.pk).version == 3

    def test_the_url_form_still_works(self, sale):
        _, buyer_client, _, _, tx = sale
        invoice = _sent_invoice(tx)
        claimed = send_json(
            buyer_client,
            "patch",
            f"{M}invoices/{invoice.pk}/",
            {"action": "mark_paid", "version": 2, "receipt_url": "https://files.test/r.pdf"},
        )
        assert (claimed.status_code, body(claimed)["has_receipt"], body(claimed)["buyer_payment_receipt_url"]) == (
            200,
            False,
            "https://files.test/r.pdf",
        )
