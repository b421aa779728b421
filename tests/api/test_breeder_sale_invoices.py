"""A breeder bills a marketplace sale through the API: the sale's one tenant invoice
(tenant_app/marketplace_billing.py), then the buyer pays it by card end to end."""

from __future__ import annotations

import copy
import itertools

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceTransaction
from tenant_app.models import Contact, Invoice
from tests.api.conftest import bearer, body, member, send_json
from tests.api.test_concurrency import run_together
from tests.api.test_marketplace_endpoints import person
from tests.factories.marketplace import ProviderFactory, make_transaction
from tests.factories.tenant import TenantFactory
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process

URL = "/api/v1/invoices/from-marketplace-transaction/"


def breeder_and_sale(*, amount=120_000, mode="manual"):
    tenant = TenantFactory(marketplace_payment_mode=mode)
    _, breeder_identity = person("breeder")
    provider = ProviderFactory(user=breeder_identity, kind="breeder", tenant_id=tenant.pk)
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=amount, description="Golden Retriever puppy")
    return tenant, tx, buyer, buyer_login


def tenant_invoices(tenant) -> list[Invoice]:
    with tenant_context(tenant.pk):
        return list(Invoice.all_objects.filter(tenant_id=tenant.pk).order_by("pk"))


def sale(tx) -> MarketplaceTransaction:
    return MarketplaceTransaction.objects.using(MARKETPLACE_DB).get(pk=tx.pk)


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
class TestBillingASale:
    def test_the_seller_bills_its_sale_once_at_its_price(self):
        tenant, tx, buyer, _ = breeder_and_sale()
        owner = bearer(tenant.owner_user)
        response = send_json(owner, "post", URL, {"transaction_id": tx.pk}, **{"Idempotency-Key": "bill-1"})
        assert response.status_code == 201, response.content
        data = body(response)
        assert (data["status"], data["total_cents"], data["currency"], data["is_marketplace_invoice"]) == (
            "draft",
            120_000,
            tx.currency,
            True,
        )
        assert [(line["description"], line["unit_price_cents"]) for line in data["lines"]] == [
            ("Golden Retriever puppy", 120_000)
        ]
        stored = sale(tx)
        assert (stored.status, stored.invoice_type, stored.invoice_id) == ("invoiced", "tenant", data["id"])
        with tenant_context(tenant.pk):  # billed to a contact linked to the buyer
            contact = Contact.objects.get(pk=Invoice.objects.get(pk=data["id"]).contact_id)
        assert contact.marketplace_user_id == buyer.pk
        replay = send_json(owner, "post", URL, {"transaction_id": tx.pk}, **{"Idempotency-Key": "bill-1"})
        assert (replay.status_code, replay["Idempotent-Replayed"], body(replay)["id"]) == (201, "true", data["id"])
        again = send_json(owner, "post", URL, {"transaction_id": tx.pk})
        assert (again.status_code, again["Content-Type"]) == (409, "application/problem+json")
        assert (body(again)["code"], body(again)["invoice_id"]) == ("already_invoiced", data["id"])
        assert len(tenant_invoices(tenant)) == 1

    def test_lines_and_an_explicit_contact_are_taken(self):
        tenant, tx, buyer, _ = breeder_and_sale()
        with tenant_context(tenant.pk):
            contact = Contact.objects.create(
                tenant=tenant, first_name="Maya", email="maya@example.test", marketplace_user_id=buyer.pk
            )
        response = send_json(
            bearer(tenant.owner_user),
            "post",
            URL,
            {
                "transaction_id": tx.pk,
                "contact_id": contact.pk,
                "tax_cents": 500,
                "lines": [
                    {"description": "Puppy", "unit_price_cents": 100_000},
                    {"description": "Crate", "unit_price_cents": 20_000},
                ],
            },
        )
        assert (response.status_code, body(response)["total_cents"], body(response)["contact"]["id"]) == (
            201,
            120_500,
            contact.pk,
        )

    def test_another_tenant_gets_404_and_nothing_changes(self):
        tenant, tx, _, _ = breeder_and_sale()
        other = TenantFactory()
        response = send_json(bearer(other.owner_user), "post", URL, {"transaction_id": tx.pk})
        assert (response.status_code, body(response)["code"]) == (404, "not_found")
        missing = send_json(bearer(other.owner_user), "post", URL, {"transaction_id": 2**62})
        assert (missing.status_code, body(missing)["detail"]) == (
            404,
            body(response)["detail"].replace(str(tx.pk), str(2**62)),
        )
        assert (sale(tx).status, tenant_invoices(tenant), tenant_invoices(other)) == ("pending_invoice", [], [])

    def test_a_viewer_may_not_and_bad_input_is_400(self):
        tenant, tx, _, _ = breeder_and_sale()
        viewer = bearer(member(tenant, "viewer"))
        assert body(send_json(viewer, "post", URL, {"transaction_id": tx.pk}))["code"] == "role_forbidden"
        owner = bearer(tenant.owner_user)
        for payload in (
            {"transaction_id": 2**70},
            {"transaction_id": "x"},
            {"transaction_id": tx.pk, "extra": 1},
            {"transaction_id": tx.pk, "tax_cents": 10**30},
            {"transaction_id": tx.pk, "notes": "a\x00b"},
        ):
            response = send_json(owner, "post", URL, payload)
            assert response.status_code == 400, (payload, response.content)
        assert (sale(tx).status, tenant_invoices(tenant)) == ("pending_invoice", [])

    def test_a_cancelled_sale_is_409_and_leaves_no_invoice_behind(self):
        tenant, tx, _, _ = breeder_and_sale()
        marketplace_services.transaction_cancel(transaction_id=tx.pk)
        response = send_json(bearer(tenant.owner_user), "post", URL, {"transaction_id": tx.pk})
        assert (response.status_code, body(response)["code"]) == (409, "illegal_transition")
        assert tenant_invoices(tenant) == []

    def test_a_contact_of_someone_else_is_refused(self):
        tenant, tx, _, _ = breeder_and_sale()
        _, somebody = person()
        with tenant_context(tenant.pk):
            contact = Contact.objects.create(tenant=tenant, first_name="Other", marketplace_user_id=somebody.pk)
        response = send_json(
            bearer(tenant.owner_user), "post", URL, {"transaction_id": tx.pk, "contact_id": contact.pk}
        )
        assert (response.status_code, body(response)["code"]) == (400, "contact_not_buyer")
        assert (sale(tx).status, tenant_invoices(tenant)) == ("pending_invoice", [])

    def test_billed_sent_and_paid_by_card_end_to_end(self, fake_stripe):
        tenant, tx, _, buyer_login = breeder_and_sale(amount=90_000, mode="stripe")
        connect_account(tenant=tenant)
        owner = bearer(tenant.owner_user)
        invoice = body(send_json(owner, "post", URL, {"transaction_id": tx.pk}))
        sent = send_json(
            owner, "patch", f"/api/v1/invoices/{invoice['id']}/", {"action": "send", "version": invoice["version"]}
        )
        assert (sent.status_code, body(sent)["status"]) == (200, "sent")
        card = body(bearer(buyer_login).post(f"/api/v1/marketplace/transactions/{tx.pk}/card-payment/"))
        assert (card["invoice_kind"], card["invoice_id"], card["amount_cents"]) == ("tenant", invoice["id"], 90_000)
        intent = copy.deepcopy(fake_stripe.succeed_intent(card["payment_intent_id"]))
        assert deliver_and_process(Client(), stripe_event("payment_intent.succeeded", intent)).outcome == (
            f"invoice {invoice['invoice_number']} paid"
        )
        outbox_relay_due()  # the tenant invoice's payment reaches its sale
        assert body(owner.get(f"/api/v1/invoices/{invoice['id']}/"))["status"] == "paid"
        assert sale(tx).status == "paid"


@pytest.mark.slow
@pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)
def test_simultaneous_attempts_make_one_invoice_one_201_and_409s():
    tenant, tx, _, _ = breeder_and_sale()
    access = bearer(tenant.owner_user).defaults["HTTP_AUTHORIZATION"]

    def bill(index):
        headers = {"Authorization": access, **({"Idempotency-Key": f"attempt-{index}"} if index % 2 else {})}
        response = Client(headers=headers).post(URL, f'{{"transaction_id": {tx.pk}}}', content_type="application/json")
        return response.status_code, response.json().get("code"), response.json().get("id")

    counter = itertools.count()
    results = run_together(6, lambda: bill(next(counter)))
    assert sorted(status for status, _, _ in results) == [201, 409, 409, 409, 409, 409], results
    assert {code for status, code, _ in results if status == 409} == {"already_invoiced"}
    [created] = [invoice_id for status, _, invoice_id in results if status == 201]
    assert [invoice.pk for invoice in tenant_invoices(tenant)] == [created]
    assert (sale(tx).invoice_type, sale(tx).invoice_id, sale(tx).status) == ("tenant", created, "invoiced")
