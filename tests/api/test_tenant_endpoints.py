"""Contacts, invoices (actions, versions, receipts) and payments through the real endpoints."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit, IdempotencyKey
from breederhq.tenancy import tenant_context
from tenant_app.models import Contact, Invoice, InvoiceAuditLog, Payment
from tests.api.conftest import bearer, body, member, send_json
from tests.factories.marketplace import MarketplaceUserFactory
from tests.factories.tenant import ContactFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
CONTACTS, INVOICES, PAYMENTS = "/api/v1/contacts/", "/api/v1/invoices/", "/api/v1/payments/"
PDF = b"%PDF-1.4 bank transfer receipt"


def invoice_url(invoice_id: int) -> str:
    return f"{INVOICES}{invoice_id}/"


def new_invoice(client, contact_id: int, *, key: str | None = None, **extra):
    data = {
        "contact_id": contact_id,
        "lines": [
            {"description": "Puppy deposit", "unit_price_cents": 50_000},
            {"description": "Microchip", "unit_price_cents": 4_500, "quantity": 2},
        ],
        "tax_cents": 1_000,
        **extra,
    }
    headers = {"Idempotency-Key": key} if key else {}
    return send_json(client, "post", INVOICES, data, **headers)


def patch(client, invoice_id: int, data, **headers):
    return send_json(client, "patch", invoice_url(invoice_id), data, **headers)


@pytest.fixture
def owner_a(two_tenants):
    a, _ = two_tenants
    with tenant_context(a.pk):
        contact = ContactFactory(tenant=a, first_name="Maya", last_name="Lopez")
    return a, bearer(a.owner_user), contact


class TestContacts:
    def test_create_read_update_delete(self, owner_a):
        a, client, _ = owner_a
        created = send_json(client, "post", CONTACTS, {"first_name": "Tom", "last_name": "Becker", "city": "Denver"})
        assert created.status_code == 201
        contact_id = body(created)["id"]
        assert body(created)["display_name"] == "Tom Becker"
        assert body(created)["marketplace_user"] is None
        updated = send_json(client, "patch", f"{CONTACTS}{contact_id}/", {"city": "Boulder"})
        assert (updated.status_code, body(updated)["city"]) == (200, "Boulder")
        assert body(client.get(f"{CONTACTS}{contact_id}/"))["city"] == "Boulder"
        assert client.delete(f"{CONTACTS}{contact_id}/").status_code == 204
        assert client.get(f"{CONTACTS}{contact_id}/").status_code == 404
        with tenant_context(a.pk):
            assert Contact.all_objects.get(pk=contact_id).deleted_at is not None

    def test_the_linked_marketplace_person_is_resolved(self, owner_a):
        a, client, contact = owner_a
        person = MarketplaceUserFactory(display_name="Bea Buyer")
        with tenant_context(a.pk):
            contact.marketplace_user_id = person.pk
            contact.save()
        [row] = body(client.get(CONTACTS))["results"]
        assert row["marketplace_user"] == {"id": person.pk, "display_name": "Bea Buyer", "is_deleted": False}

    def test_another_tenants_contact_is_404_for_every_method(self, two_tenants, owner_a):
        _, b = two_tenants
        _, client, _ = owner_a
        with tenant_context(b.pk):
            theirs = ContactFactory(tenant=b)
        url = f"{CONTACTS}{theirs.pk}/"
        assert client.get(url).status_code == 404
        assert send_json(client, "patch", url, {"city": "X"}).status_code == 404
        assert client.delete(url).status_code == 404
        with tenant_context(b.pk):
            assert Contact.objects.get(pk=theirs.pk).city == ""

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"first_name": 5, "last_name": []}, "last_name"),
            ({"kind": "robot", "last_name": "X"}, "kind"),
            ({"last_name": "X", "shoe_size": 44}, "shoe_size"),
            ({"kind": "organization"}, "organization_name"),
            ({"last_name": "X", "email": "not-an-email"}, "email"),
        ],
    )
    def test_bad_input_is_a_problem_with_field_errors(self, owner_a, payload, field):
        a, client, _ = owner_a
        response = send_json(client, "post", CONTACTS, payload)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert field in body(response)["errors"]
        with tenant_context(a.pk):
            assert Contact.objects.count() == 1

    @pytest.mark.parametrize("raw", ["{", "[1, 2]", '"text"', "null", "\x00\xff"])
    def test_malformed_json_is_400_never_500(self, owner_a, raw):
        _, client, _ = owner_a
        for method, url in (("post", CONTACTS), ("post", INVOICES)):
            response = send_json(client, method, url, raw)
            assert response.status_code == 400, (url, raw, response.content)
            assert body(response)["code"] in {"malformed_request", "validation_failed"}

    def test_filters(self, owner_a):
        a, client, _ = owner_a
        with tenant_context(a.pk):
            ContactFactory(tenant=a, kind="organization", first_name="", last_name="", organization_name="Happy Paws")
        assert [c["display_name"] for c in body(client.get(CONTACTS, {"kind": "organization"}))["results"]] == [
            "Happy Paws"
        ]
        assert [c["display_name"] for c in body(client.get(CONTACTS, {"q": "lope"}))["results"]] == ["Maya Lopez"]
        assert client.get(CONTACTS, {"kind": "robot"}).status_code == 400


class TestInvoices:
    def test_create_with_lines_then_detail_with_etag(self, owner_a):
        a, client, contact = owner_a
        created = new_invoice(client, contact.pk)
        assert created.status_code == 201
        invoice = body(created)
        assert (invoice["status"], invoice["version"], invoice["subtotal_cents"], invoice["total_cents"]) == (
            "draft",
            1,
            59_000,
            60_000,
        )
        assert [(line["description"], line["quantity"], line["total_cents"]) for line in invoice["lines"]] == [
            ("Puppy deposit", 1, 50_000),
            ("Microchip", 2, 9_000),
        ]
        assert invoice["contact"] == {"id": contact.pk, "display_name": "Maya Lopez"}
        detail = client.get(invoice_url(invoice["id"]))
        assert detail["ETag"] == '"1"'
        assert body(detail) == invoice

    def test_list_filters_by_status_and_contact(self, owner_a):
        a, client, contact = owner_a
        with tenant_context(a.pk):
            other = ContactFactory(tenant=a)
            drafts = [make_invoice(contact=contact), make_invoice(contact=other)]
        sent = body(new_invoice(client, contact.pk))
        patch(client, sent["id"], {"action": "send", "version": 1})
        ids = lambda params: [i["id"] for i in body(client.get(INVOICES, params))["results"]]  # noqa: E731
        assert ids({"status": "sent"}) == [sent["id"]]
        assert ids({"status": "draft", "contact": other.pk}) == [drafts[1].pk]
        assert sorted(ids({"status": ["draft", "sent"]})) == sorted([drafts[0].pk, drafts[1].pk, sent["id"]])
        assert client.get(INVOICES, {"status": "nope"}).status_code == 400
        assert client.get(INVOICES, {"created_after": "yesterday"}).status_code == 400

    def test_unknown_contact_and_bad_lines_are_refused_without_an_invoice(self, two_tenants, owner_a):
        a, client, contact = owner_a
        _, b = two_tenants
        with tenant_context(b.pk):
            theirs = ContactFactory(tenant=b)
        assert new_invoice(client, theirs.pk).status_code == 404
        bad = send_json(
            client,
            "post",
            INVOICES,
            {"contact_id": contact.pk, "lines": [{"description": "x", "unit_price_cents": -1, "quantity": "2"}]},
        )
        assert bad.status_code == 400
        assert "lines[0].unit_price_cents" in body(bad)["errors"]
        assert send_json(client, "post", INVOICES, {"contact_id": contact.pk, "lines": []}).status_code == 400
        assert send_json(client, "post", INVOICES, {"contact_id": "one", "lines": "many"}).status_code == 400
        with tenant_context(a.pk):
            assert Invoice.objects.count() == 0

    def test_send_with_version_and_a_stale_version_is_409_with_the_current_one(self, owner_a):
        a, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        sent = patch(client, invoice_id, {"action": "send", "version": 1})
        assert (sent.status_code, body(sent)["status"], body(sent)["version"], sent["ETag"]) == (200, "sent", 2, '"2"')
        stale = patch(client, invoice_id, {"action": "void", "version": 1})
        assert stale.status_code == 409
        assert (body(stale)["code"], body(stale)["current_version"]) == ("version_conflict", 2)
        with tenant_context(a.pk):
            assert Invoice.objects.get(pk=invoice_id).status == "sent"
            assert InvoiceAuditLog.objects.filter(invoice_id=invoice_id).count() == 2

    def test_if_match_carries_the_version(self, owner_a):
        _, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        assert patch(client, invoice_id, {"action": "send"}, **{"If-Match": '"7"'}).status_code == 409
        ok = patch(client, invoice_id, {"action": "send"}, **{"If-Match": 'W/"1"'})
        assert (ok.status_code, body(ok)["status"]) == (200, "sent")
        assert patch(client, invoice_id, {"action": "void", "version": 1}, **{"If-Match": '"2"'}).status_code == 400
        assert patch(client, invoice_id, {"action": "void"}, **{"If-Match": "banana"}).status_code == 400

    @pytest.mark.parametrize(
        "payload, field",
        [
            ({"action": "teleport", "version": 1}, "action"),
            ({"version": 1}, "action"),
            ({"action": "send"}, "version"),
            ({"action": "send", "version": "one"}, "version"),
            ({"action": "mark_paid", "version": 1}, "method"),
            ({"action": "refund", "version": 1, "reason": "x"}, "amount_cents"),
            ({"action": "send", "version": 1, "notes": "x"}, "notes"),
            ({"action": "send", "version": 1, "colour": "red"}, "colour"),
        ],
    )
    def test_bad_patches_are_400_and_change_nothing(self, owner_a, payload, field):
        a, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        response = patch(client, invoice_id, payload)
        assert response.status_code == 400
        assert field in body(response)["errors"]
        with tenant_context(a.pk):
            assert Invoice.objects.get(pk=invoice_id).version == 1

    def test_an_illegal_transition_is_409(self, owner_a):
        _, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        response = patch(client, invoice_id, {"action": "confirm_payment", "version": 1})
        assert response.status_code == 409
        assert body(response)["code"] in {"illegal_transition", "nothing_to_confirm"}

    def test_draft_edit(self, owner_a):
        _, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        response = patch(
            client,
            invoice_id,
            {"version": 1, "lines": [{"description": "Stud", "unit_price_cents": 80_000}], "notes": "thanks"},
        )
        assert (body(response)["total_cents"], body(response)["notes"], body(response)["version"]) == (
            81_000,
            "thanks",
            2,
        )

    def test_the_manual_payment_flow_receipt_confirm_refund_and_payments(self, owner_a):
        a, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        patch(client, invoice_id, {"action": "send", "version": 1})
        upload = client.post(
            f"{invoice_url(invoice_id)}receipt/",
            {"receipt": SimpleUploadedFile("r.pdf", PDF), "reference": "wire 42", "version": 2},
        )
        assert (upload.status_code, body(upload)["status"], body(upload)["has_receipt"]) == (
            200,
            "pending_confirmation",
            True,
        )
        confirmed = patch(client, invoice_id, {"action": "confirm_payment", "version": 3, "reference": "wire 42"})
        assert (body(confirmed)["status"], body(confirmed)["paid_cents"]) == ("paid", 60_000)
        refunded = patch(
            client,
            invoice_id,
            {"action": "refund", "version": 4, "amount_cents": 10_000, "reason": "microchip not needed"},
        )
        assert (body(refunded)["status"], body(refunded)["refunded_cents"]) == ("partially_refunded", 10_000)
        payments = body(client.get(PAYMENTS, {"invoice": invoice_id}))["results"]
        assert [(p["kind"], p["method"], p["amount_cents"], p["credit_note_number"]) for p in payments] == [
            ("refund", "manual", 10_000, "CN-000001"),
            ("payment", "manual", 60_000, None),
        ]
        assert [p["kind"] for p in body(client.get(PAYMENTS, {"kind": "refund"}))["results"]] == ["refund"]

    def test_reject_and_mark_paid(self, owner_a):
        _, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        patch(client, invoice_id, {"action": "send", "version": 1})
        client.post(
            f"{invoice_url(invoice_id)}receipt/",
            {"receipt": SimpleUploadedFile("r.png", b"\x89PNG\r\n\x1a\nxx")},
            headers={"If-Match": '"2"'},
        )
        rejected = patch(client, invoice_id, {"action": "reject_payment", "version": 3, "reason": "no money arrived"})
        assert body(rejected)["status"] == "sent"
        paid = patch(client, invoice_id, {"action": "mark_paid", "version": 4, "method": "manual", "reference": "cash"})
        assert (body(paid)["status"], body(paid)["paid_cents"]) == ("paid", 60_000)

    @pytest.mark.parametrize(
        "name, content, status_code, code",
        [
            ("r.pdf", b"MZ\x90\x00 an executable", 400, "receipt_type_refused"),
            ("r.txt", b"just text", 400, "receipt_type_refused"),
            ("r.pdf", b"", 400, "validation_failed"),
            ("big.pdf", b"%PDF-" + b"x" * 2048, 413, "receipt_too_large"),
        ],
    )
    def test_receipts_are_checked_by_content_and_size(self, owner_a, settings, name, content, status_code, code):
        a, client, contact = owner_a
        settings.RECEIPT_MAX_BYTES = 1024
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        patch(client, invoice_id, {"action": "send", "version": 1})
        response = client.post(
            f"{invoice_url(invoice_id)}receipt/",
            {"receipt": SimpleUploadedFile(name, content, content_type="application/pdf"), "version": 2},
        )
        assert (response.status_code, body(response)["code"]) == (status_code, code)
        with tenant_context(a.pk):
            invoice = Invoice.objects.get(pk=invoice_id)
            assert (invoice.status, invoice.buyer_payment_receipt.name) == ("sent", "")

    def test_staff_cannot_void_or_refund_but_admin_can(self, owner_a):
        a, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        staff = bearer(member(a, "staff"))
        response = patch(staff, invoice_id, {"action": "void", "version": 1, "reason": "dup"})
        assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
        assert AuthorizationAudit.objects.using(TENANT_DB).get().action == "void"
        assert patch(staff, invoice_id, {"action": "send", "version": 1}).status_code == 200
        admin = bearer(member(a, "admin"))
        assert body(patch(admin, invoice_id, {"action": "void", "version": 2, "reason": "dup"}))["status"] == "void"

    def test_another_tenants_invoice_is_404(self, two_tenants, owner_a):
        _, b = two_tenants
        _, client, _ = owner_a
        with tenant_context(b.pk):
            theirs = make_invoice(contact=ContactFactory(tenant=b))
        assert client.get(invoice_url(theirs.pk)).status_code == 404
        assert patch(client, theirs.pk, {"action": "send", "version": 1}).status_code == 404
        with tenant_context(b.pk):
            assert Invoice.objects.get(pk=theirs.pk).status == "draft"


class TestIdempotencyThroughEndpoints:
    def test_a_replayed_create_returns_the_first_invoice_and_creates_one(self, owner_a):
        a, client, contact = owner_a
        first = new_invoice(client, contact.pk, key="create-1")
        second = new_invoice(client, contact.pk, key="create-1")
        assert (first.status_code, second.status_code, second["Idempotent-Replayed"]) == (201, 201, "true")
        assert body(second) == body(first)
        other = new_invoice(client, contact.pk, key="create-1", notes="changed")
        assert (other.status_code, body(other)["code"]) == (422, "idempotency_key_reused")
        with tenant_context(a.pk):
            assert Invoice.objects.count() == 1
        assert IdempotencyKey.objects.using(TENANT_DB).get().scope == f"tenant_app.user:{a.owner_user.pk}"

    def test_a_replayed_action_does_not_act_twice(self, owner_a):
        a, client, contact = owner_a
        invoice_id = body(new_invoice(client, contact.pk))["id"]
        patch(client, invoice_id, {"action": "send", "version": 1})
        data = {"action": "mark_paid", "version": 2, "method": "manual"}
        first = patch(client, invoice_id, data, **{"Idempotency-Key": "pay-1"})
        again = patch(client, invoice_id, data, **{"Idempotency-Key": "pay-1"})
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (200, 200, "true")
        assert body(again) == body(first)
        with tenant_context(a.pk):
            assert Payment.objects.filter(invoice_id=invoice_id).count() == 1
            assert Invoice.objects.get(pk=invoice_id).version == 3
