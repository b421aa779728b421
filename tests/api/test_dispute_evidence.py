"""Disputes through the API: shown on the invoice to its seller and buyer, the seller's evidence (files
forwarded to Stripe, one submission before the deadline, audited), and what closing one does to the
invoice and to reconciliation. Stripe is the fake (tests/fakes/stripe_server/)."""

from __future__ import annotations

import copy
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from breederhq.databases import DATABASE_ALIASES
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from payments_app import services as payment_services
from payments_app.dispute_models import InvoiceDispute
from payments_app.reconciliation import stripe_reconcile
from tenant_app.models import Invoice, InvoiceAuditLog
from tests.api.conftest import bearer, body, member, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import ProviderFactory, make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    connect_account,
    deliver_and_process,
    every_row,
    sent_tenant_invoice,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
PDF = b"%PDF-1.4\n% evidence\n" + b"x" * 200


def deliver(event):
    return deliver_and_process(Client(), event)


def pdf(name="receipt.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def disputed(fake_stripe, stripe_tenant):
    """A tenant invoice of 250.00 paid by card, whose buyer disputes 100.00 of it (due in a week)."""
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    intent_id = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    deliver(stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id))))
    deliver(
        stripe_event(
            "charge.dispute.created",
            fake_stripe.dispute_of(intent_id, dispute_id="dp_1", amount=10_000, reason="product_not_received"),
        )
    )
    return stripe_tenant.tenant, invoice, intent_id


def urls(invoice_id: int) -> tuple[str, str, str]:
    base = f"/api/v1/invoices/{invoice_id}/dispute/"
    return base, base + "evidence-files/", base + "evidence/"


def invoice_state(tenant, invoice_id):
    with tenant_context(tenant.pk):
        return Invoice.objects.values_list("status", "refunded_cents").get(pk=invoice_id)


class TestShown:
    def test_the_seller_sees_the_dispute_on_the_invoice(self, disputed):
        tenant, invoice, _ = disputed
        client = bearer(tenant.owner_user)
        dispute = body(client.get(f"/api/v1/invoices/{invoice.pk}/"))["dispute"]
        assert {
            k: dispute[k] for k in ("id", "status", "amount_cents", "currency", "reason", "evidence_submitted")
        } == {
            "id": "dp_1",
            "status": "needs_response",
            "amount_cents": 10_000,
            "currency": "USD",
            "reason": "product_not_received",
            "evidence_submitted": False,
        }
        assert dispute["evidence_due_by"] is not None
        own = body(bearer(member(tenant, "viewer")).get(urls(invoice.pk)[0]))
        assert (own["id"], own["evidence_files"]) == ("dp_1", [])

    def test_an_invoice_without_dispute(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant, amount=1_000)
        client = bearer(stripe_tenant.tenant.owner_user)
        assert body(client.get(f"/api/v1/invoices/{invoice.pk}/"))["dispute"] is None
        missing = client.get(urls(invoice.pk)[0])
        assert (missing.status_code, body(missing)["code"]) == (404, "no_dispute")


class TestEvidence:
    def test_files_go_to_stripe_once_and_the_evidence_is_submitted_once_and_audited(self, fake_stripe, disputed):
        tenant, invoice, _ = disputed
        client = bearer(tenant.owner_user)
        _, files_url, evidence_url = urls(invoice.pk)
        first = client.post(files_url, {"file": pdf()}, headers={"Idempotency-Key": "f-1"})
        assert first.status_code == 201, first.content
        again = client.post(files_url, {"file": pdf("copy.pdf")})  # the same content under another name
        assert (again.status_code, body(again)["id"]) == (200, body(first)["id"])
        [stripe_file] = fake_stripe.objects["files"].values()
        assert (stripe_file["purpose"], fake_stripe.file_contents[stripe_file["id"]]) == ("dispute_evidence", PDF)
        [upload] = fake_stripe.requests_to("POST", "/v1/files")
        assert upload["idempotency_key"]

        evidence = {
            "product_description": "A puppy, delivered 1 May",
            "uncategorized_text": "Signed handover",
            "files": {"receipt": body(first)["id"]},
        }
        submitted = send_json(client, "post", evidence_url, evidence, **{"Idempotency-Key": "e-1"})
        assert submitted.status_code == 200, submitted.content
        assert (body(submitted)["evidence_submitted"], body(submitted)["status"]) == (True, "under_review")
        remote = fake_stripe.objects["disputes"]["dp_1"]
        assert remote["evidence"]["receipt"] == stripe_file["id"]
        assert remote["evidence"]["product_description"] == "A puppy, delivered 1 May"
        with tenant_context(tenant.pk):
            audit = InvoiceAuditLog.objects.get(invoice_id=invoice.pk, action="dispute_evidence_submitted")
            assert (audit.changed_by_id, audit.metadata["dispute"]) == (tenant.owner_user.pk, "dp_1")
            assert audit.metadata["fields"] == ["product_description", "receipt", "uncategorized_text"]

        replay = send_json(client, "post", evidence_url, evidence, **{"Idempotency-Key": "e-1"})
        assert replay["Idempotent-Replayed"] == "true"
        twice = send_json(client, "post", evidence_url, {"uncategorized_text": "more"})
        assert (twice.status_code, body(twice)["code"]) == (409, "evidence_already_submitted")
        late_file = client.post(files_url, {"file": pdf(content=PDF + b"2")})
        assert (late_file.status_code, body(late_file)["code"]) == (409, "evidence_already_submitted")
        assert len(fake_stripe.requests_to("POST", "/v1/disputes/dp_1")) == 1

    def test_a_file_is_sniffed_and_bounded(self, settings, disputed):
        tenant, invoice, _ = disputed
        client = bearer(tenant.owner_user)
        files_url = urls(invoice.pk)[1]
        text = client.post(files_url, {"file": SimpleUploadedFile("r.pdf", b"hello", content_type="application/pdf")})
        assert (text.status_code, body(text)["code"]) == (400, "evidence_file_type_refused")
        settings.DISPUTE_EVIDENCE_MAX_BYTES = 100
        big = client.post(files_url, {"file": pdf()})
        assert (big.status_code, body(big)["code"], body(big)["max_bytes"]) == (413, "evidence_file_too_large", 100)

    def test_after_the_deadline_nothing_goes_to_stripe(self, fake_stripe, disputed):
        tenant, invoice, intent_id = disputed
        deliver(
            stripe_event(
                "charge.dispute.updated",
                fake_stripe.dispute_of(intent_id, dispute_id="dp_1", due_by=int(time.time()) - 60),
                created=int(time.time()) + 5,
            )
        )
        late = send_json(bearer(tenant.owner_user), "post", urls(invoice.pk)[2], {"uncategorized_text": "late"})
        assert (late.status_code, body(late)["code"]) == (409, "evidence_deadline_passed")
        assert fake_stripe.requests_to("POST", "/v1/disputes/") == []

    def test_stripe_refusing_or_down_leaves_it_unsubmitted(self, fake_stripe, disputed):
        tenant, invoice, intent_id = disputed
        client = bearer(tenant.owner_user)
        fake_stripe.fail_next(1, status=500)
        down = send_json(client, "post", urls(invoice.pk)[2], {"uncategorized_text": "x"})
        assert (down.status_code, body(down)["code"]) == (503, "stripe_unavailable")
        assert every_row(InvoiceDispute).get().submission == ""
        fake_stripe.objects["disputes"]["dp_1"]["status"] = "lost"  # closed in Stripe, not told to us yet
        refused = send_json(client, "post", urls(invoice.pk)[2], {"uncategorized_text": "y"})
        assert (refused.status_code, body(refused)["code"]) == (409, "dispute_not_updatable")
        row = every_row(InvoiceDispute).get()
        assert (row.submission, row.evidence_submitted_at) == ("", None)

    def test_only_an_owner_or_admin_answers_and_unknown_fields_are_refused(self, disputed):
        tenant, invoice, _ = disputed
        staff = send_json(bearer(member(tenant, "staff")), "post", urls(invoice.pk)[2], {"uncategorized_text": "x"})
        assert (staff.status_code, body(staff)["code"]) == (403, "role_forbidden")
        client = bearer(member(tenant, "admin"))
        for bad, field in (
            ({"favourite_colour": "red"}, "favourite_colour"),
            ({"files": {"receipt": 999_999}}, "receipt"),
            ({"uncategorized_text": "x" * 20_001}, "uncategorized_text"),
            ({}, "evidence"),
        ):
            refused = send_json(client, "post", urls(invoice.pk)[2], bad)
            assert refused.status_code == 400, (bad, refused.content)
            assert field in body(refused)["errors"], body(refused)

    def test_a_number_for_a_text_field_is_refused_and_nothing_goes_to_stripe(self, fake_stripe, disputed):
        """The evidence's text fields are strings (breederhq/api/strict_fields.py): 400 naming each."""
        tenant, invoice, _ = disputed
        numbers = {"product_description": 63461, "service_date": 20260501, "customer_name": True}
        refused = send_json(bearer(tenant.owner_user), "post", urls(invoice.pk)[2], numbers)
        assert (refused.status_code, body(refused)["code"]) == (400, "validation_failed"), refused.content
        assert body(refused)["errors"] == {field: ["Not a valid string."] for field in numbers}
        assert fake_stripe.requests_to("POST", "/v1/disputes/") == []
        assert every_row(InvoiceDispute).get().submission == ""


class TestClosed:
    def test_lost_takes_the_disputed_amount_from_the_invoice_once_and_reconciliation_agrees(
        self, fake_stripe, disputed
    ):
        tenant, invoice, intent_id = disputed
        lost = stripe_event(
            "charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="lost")
        )
        assert deliver(lost).outcome == "dispute dp_1 lost"
        assert deliver(lost).outcome in {"duplicate: dispute dp_1 already lost", "dispute dp_1 lost"}
        deliver(
            stripe_event("charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="lost"))
        )
        late_open = stripe_event(
            "charge.dispute.created",
            fake_stripe.dispute_of(intent_id, dispute_id="dp_1"),
            created=int(time.time()) - 3600,
        )
        assert deliver(late_open).outcome == "ignored: dispute dp_1 already closed (lost)"
        assert invoice_state(tenant, invoice.pk) == ("partially_refunded", 10_000)
        shown = body(bearer(tenant.owner_user).get(f"/api/v1/invoices/{invoice.pk}/"))
        assert (shown["dispute"]["status"], shown["refunded_cents"], shown["status"]) == (
            "lost",
            10_000,
            "partially_refunded",
        )
        run = stripe_reconcile(trigger="command")
        assert (run.synced, run.mismatch, run.missing_remote, run.missing_local) == (1, 0, 0, 0)
        with tenant_context(tenant.pk):
            assert Invoice.objects.get(pk=invoice.pk).reconciliation_status == "synced"

    def test_reconciliation_flags_a_loss_stripe_knows_and_we_do_not(self, fake_stripe, disputed):
        tenant, invoice, intent_id = disputed
        fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="lost")  # the closing event never came
        run = stripe_reconcile(trigger="command")
        assert run.mismatch == 1
        assert "dp_1 as lost" in run.items.get().detail

    def test_won_changes_nothing_but_the_status(self, fake_stripe, disputed):
        tenant, invoice, intent_id = disputed
        deliver(
            stripe_event("charge.dispute.closed", fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="won"))
        )
        assert invoice_state(tenant, invoice.pk) == ("paid", 0)
        assert body(bearer(tenant.owner_user).get(urls(invoice.pk)[0]))["status"] == "won"

    def test_an_older_update_arriving_late_does_not_move_it_back(self, fake_stripe, disputed):
        tenant, invoice, intent_id = disputed
        now = int(time.time())
        deliver(
            stripe_event(
                "charge.dispute.updated",
                fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="under_review"),
                created=now + 60,
            )
        )
        deliver(
            stripe_event(
                "charge.dispute.updated",
                fake_stripe.dispute_of(intent_id, dispute_id="dp_1", status="needs_response"),
                created=now + 30,
            )
        )
        assert every_row(InvoiceDispute).get().status == "under_review"


def test_a_marketplace_invoices_dispute_the_buyer_sees_and_the_provider_answers(fake_stripe):
    provider_login, provider = provider_with_login(payment_mode="stripe")
    connect_account(provider=provider)
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    intent_id = payment_services.invoice_payment_open(
        invoice_kind="marketplace", invoice_id=invoice.pk
    ).stripe_payment_intent_id
    deliver(stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id))))
    deliver(stripe_event("charge.dispute.created", fake_stripe.dispute_of(intent_id, dispute_id="dp_m")))
    base = f"/api/v1/marketplace/invoices/{invoice.pk}/dispute/"
    seen = bearer(buyer_login).get(base)
    assert (seen.status_code, body(seen)["amount_cents"], body(seen)["evidence_files"]) == (200, 8_000, [])
    assert body(bearer(buyer_login).get(f"/api/v1/marketplace/invoices/{invoice.pk}/"))["dispute"]["id"] == "dp_m"
    assert body(bearer(buyer_login).get(f"/api/v1/marketplace/transactions/{tx.pk}/"))["dispute"]["id"] == "dp_m"
    refused = send_json(bearer(buyer_login), "post", base + "evidence/", {"uncategorized_text": "x"})
    assert (refused.status_code, body(refused)["code"]) == (403, "not_your_action")
    answered = send_json(bearer(provider_login), "post", base + "evidence/", {"uncategorized_text": "Groomed on time"})
    assert answered.status_code == 200, answered.content
    assert (
        MarketplaceInvoice.objects.get(pk=invoice.pk).audit_log.filter(action="dispute_evidence_submitted").count() == 1
    )
    outsider, _ = person()
    assert bearer(outsider).get(base).status_code == 404


def test_the_buyer_of_a_breeders_sale_sees_the_tenant_invoices_dispute_on_the_purchase(fake_stripe, stripe_tenant):
    """A breeder bills a sale with a tenant invoice: the buyer has no tenant-side view of it, so the
    dispute of its card payment shows on the purchase (read through the core's disputes port)."""
    tenant = stripe_tenant.tenant
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000, is_marketplace_invoice=True)
    buyer_login, buyer = person()
    tx = make_transaction(ProviderFactory(breeder=True, tenant_id=tenant.pk), buyer, amount_cents=25_000)
    marketplace_services.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    purchase = f"/api/v1/marketplace/transactions/{tx.pk}/"
    assert body(bearer(buyer_login).get(purchase))["dispute"] is None
    intent_id = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=tenant.pk
    ).stripe_payment_intent_id
    deliver(stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id))))
    deliver(
        stripe_event(
            "charge.dispute.created",
            fake_stripe.dispute_of(intent_id, dispute_id="dp_b", amount=10_000, reason="fraudulent"),
        )
    )
    dispute = body(bearer(buyer_login).get(purchase))["dispute"]
    assert (dispute["id"], dispute["amount_cents"], dispute["currency"], dispute["reason"]) == (
        "dp_b",
        10_000,
        "USD",
        "fraudulent",
    )
    # The list of purchases stays as it was: the dispute is on the detail only (no query per row).
    listed = body(bearer(buyer_login).get("/api/v1/marketplace/transactions/"))
    assert all("dispute" not in row for row in listed["results"])


def test_the_fake_stripe_files_and_disputes_behave_like_stripe(fake_stripe, disputed):
    """The calls the evidence makes, straight through the SDK: an upload replayed under its key is the
    same file, and a closed dispute refuses an update with Stripe's 400."""
    import io

    import stripe

    from payments_app.stripe_gateway import stripe_client

    def upload():
        handle = io.BytesIO(PDF)
        handle.name = "r.pdf"
        return stripe_client().v1.files.create(
            params={"purpose": "dispute_evidence", "file": handle}, options={"idempotency_key": "k-file"}
        )

    first, again = upload(), upload()
    assert (first.id, first.purpose, first.type) == (again.id, "dispute_evidence", "pdf")
    assert len(fake_stripe.objects["files"]) == 1 and fake_stripe.requests_to("POST", "/v1/files")[1]["replayed"]
    assert stripe_client().v1.disputes.retrieve("dp_1").evidence_details.submission_count == 0
    fake_stripe.objects["disputes"]["dp_1"]["status"] = "won"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client().v1.disputes.update("dp_1", params={"evidence": {"uncategorized_text": "x"}})
    assert (refused.value.http_status, refused.value.code) == (400, "dispute_already_closed")
