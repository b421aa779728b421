"""Refunds as a resource: GET/POST /api/v1/invoices/{id}/refunds/ — roles, tenants, versions,
Idempotency-Key, over-refunds, and Stripe-mode invoices refunded through the provider (fake Stripe)."""

from __future__ import annotations

import pytest

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import AuthorizationAudit
from breederhq.tenancy import tenant_context
from payments_app import services as payment_services
from payments_app.models import RefundRequest
from tenant_app import services
from tenant_app.models import CreditNote, Invoice, Payment
from tests.api.conftest import bearer, body, member, send_json
from tests.factories.tenant import ContactFactory, make_invoice
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    deliver_and_process,
    every_row,
    sent_tenant_invoice,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def refunds_url(invoice_id: int) -> str:
    return f"/api/v1/invoices/{invoice_id}/refunds/"


def refund(client, invoice_id: int, data: dict, *, key: str | None = "refund-1", **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return send_json(client, "post", refunds_url(invoice_id), data, **headers)


def paid_manual_invoice(tenant, *, amount: int = 20_000) -> Invoice:
    """Sent and paid by hand: version 3."""
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(amount,))
        services.invoice_send(invoice_id=invoice.pk)
        return services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key=f"cash-{invoice.pk}")


def ledger(tenant, invoice_id: int):
    with tenant_context(tenant.pk):
        invoice = Invoice.objects.get(pk=invoice_id)
        refunds = list(
            Payment.objects.filter(invoice_id=invoice_id, kind="refund")
            .order_by("id")
            .values_list("amount_cents", "method", "external_reference", "credit_note__reason")
        )
        return (invoice.status, invoice.refunded_cents, invoice.version), refunds


class TestManualInvoices:
    def test_an_owner_refunds_in_parts_and_lists_them_newest_first(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        client = bearer(a.owner_user)
        first = refund(client, invoice.pk, {"amount_cents": 5_000, "reason": "one puppy less", "version": 3})
        assert first.status_code == 201, first.content
        assert {
            k: body(first)[k]
            for k in (
                "invoice_id",
                "credit_note_number",
                "amount_cents",
                "currency",
                "reason",
                "method",
                "provider_reference",
                "recorded_by",
            )
        } == {
            "invoice_id": invoice.pk,
            "credit_note_number": "CN-000001",
            "amount_cents": 5_000,
            "currency": "USD",
            "reason": "one puppy less",
            "method": "manual",
            "provider_reference": "",
            "recorded_by": a.owner_user.email,
        }
        second = refund(
            client, invoice.pk, {"amount_cents": 15_000, "reason": "the rest"}, key="refund-2", **{"If-Match": '"4"'}
        )
        assert (second.status_code, body(second)["credit_note_number"]) == (201, "CN-000002")
        listed = client.get(refunds_url(invoice.pk))
        assert listed.status_code == 200
        assert [(r["credit_note_number"], r["amount_cents"]) for r in body(listed)["results"]] == [
            ("CN-000002", 15_000),
            ("CN-000001", 5_000),
        ]
        assert ledger(a, invoice.pk) == (
            ("refunded", 20_000, 5),
            [(5_000, "manual", "", "one puppy less"), (15_000, "manual", "", "the rest")],
        )

    def test_more_than_refundable_is_409_with_the_refundable_amount(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        response = refund(
            bearer(a.owner_user), invoice.pk, {"amount_cents": 20_001, "reason": "too much", "version": 3}
        )
        assert (response.status_code, body(response)["code"], body(response)["refundable_cents"]) == (
            409,
            "refund_exceeds_refundable",
            20_000,
        )
        assert response["Content-Type"] == "application/problem+json"
        assert ledger(a, invoice.pk) == (("paid", 0, 3), [])

    def test_an_unpaid_invoice_is_an_illegal_transition(self, two_tenants):
        a, _ = two_tenants
        with tenant_context(a.pk):
            invoice = make_invoice(contact=ContactFactory(tenant=a))
        response = refund(bearer(a.owner_user), invoice.pk, {"amount_cents": 1, "reason": "x", "version": 1})
        assert (response.status_code, body(response)["code"]) == (409, "illegal_transition")

    def test_a_stale_version_is_409_with_the_current_one_and_refunds_nothing(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        response = refund(bearer(a.owner_user), invoice.pk, {"amount_cents": 100, "reason": "x", "version": 2})
        assert (response.status_code, body(response)["code"], body(response)["current_version"]) == (
            409,
            "version_conflict",
            3,
        )
        assert ledger(a, invoice.pk) == (("paid", 0, 3), [])

    @pytest.mark.parametrize(
        "data, headers, field",
        [
            ({"amount_cents": 100, "reason": "x", "version": 3}, {}, "Idempotency-Key"),
            ({"amount_cents": 100, "reason": "x"}, {"Idempotency-Key": "k"}, "version"),
            ({"amount_cents": 0, "reason": "x", "version": 3}, {"Idempotency-Key": "k"}, "amount_cents"),
            ({"amount_cents": "lots", "reason": "x", "version": 3}, {"Idempotency-Key": "k"}, "amount_cents"),
            ({"amount_cents": 100, "reason": "", "version": 3}, {"Idempotency-Key": "k"}, "reason"),
            ({"amount_cents": 100, "reason": "x", "version": 3, "to": "me"}, {"Idempotency-Key": "k"}, "to"),
        ],
    )
    def test_malformed_requests_are_400_with_the_field(self, two_tenants, data, headers, field):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        response = send_json(bearer(a.owner_user), "post", refunds_url(invoice.pk), data, **headers)
        assert response.status_code == 400, response.content
        assert field in body(response)["errors"]
        assert ledger(a, invoice.pk) == (("paid", 0, 3), [])

    def test_a_replay_returns_the_first_refund_and_another_body_is_422(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        client = bearer(a.owner_user)
        data = {"amount_cents": 2_500, "reason": "late", "version": 3}
        first = refund(client, invoice.pk, data, key="same")
        again = refund(client, invoice.pk, data, key="same")
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
        assert body(again) == body(first)
        other = refund(client, invoice.pk, {**data, "amount_cents": 2_000}, key="same")
        assert (other.status_code, body(other)["code"]) == (422, "idempotency_key_reused")
        assert ledger(a, invoice.pk)[1] == [(2_500, "manual", "", "late")]

    def test_patch_action_refund_is_the_same_refund_as_the_post_at_that_version(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        client = bearer(a.owner_user)
        patched = send_json(
            client,
            "patch",
            f"/api/v1/invoices/{invoice.pk}/",
            {"action": "refund", "version": 3, "amount_cents": 1_000, "reason": "late"},
        )
        assert (patched.status_code, body(patched)["refunded_cents"], body(patched)["version"]) == (200, 1_000, 4)
        [row] = body(client.get(refunds_url(invoice.pk)))["results"]
        assert (row["amount_cents"], row["reason"], row["credit_note_number"]) == (1_000, "late", "CN-000001")

    @pytest.mark.parametrize("role", ["staff", "viewer"])
    def test_staff_and_viewers_read_refunds_but_may_not_create_them(self, two_tenants, role):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        client = bearer(member(a, role))
        assert client.get(refunds_url(invoice.pk)).status_code == 200
        response = refund(client, invoice.pk, {"amount_cents": 100, "reason": "x", "version": 3})
        assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
        audit = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (audit.resource_type, audit.action, audit.allowed) == ("refunds", "create", False)
        assert ledger(a, invoice.pk) == (("paid", 0, 3), [])

    def test_an_admin_may_refund(self, two_tenants):
        a, _ = two_tenants
        invoice = paid_manual_invoice(a)
        response = refund(bearer(member(a, "admin")), invoice.pk, {"amount_cents": 100, "reason": "x", "version": 3})
        assert response.status_code == 201

    def test_another_tenants_invoice_is_404_for_list_and_create(self, two_tenants):
        a, b = two_tenants
        theirs = paid_manual_invoice(b)
        client = bearer(a.owner_user)
        assert client.get(refunds_url(theirs.pk)).status_code == 404
        response = refund(client, theirs.pk, {"amount_cents": 100, "reason": "x", "version": 3})
        assert response.status_code == 404
        assert ledger(b, theirs.pk) == (("paid", 0, 3), [])
        with tenant_context(b.pk):
            assert not CreditNote.objects.exists()


@pytest.fixture
def stripe_paid(fake_stripe, stripe_tenant):
    """A Stripe-mode invoice of 250.00, paid through its payment intent (webhook processed)."""
    from django.test import Client

    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    row = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    )
    intent_id = row.stripe_payment_intent_id
    import copy

    deliver_and_process(
        Client(), stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id)))
    )
    with tenant_context(stripe_tenant.tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    return stripe_tenant.tenant, invoice, intent_id


class TestStripeInvoices:
    def test_the_money_goes_back_through_stripe_and_its_notification_adds_nothing(self, fake_stripe, stripe_paid):
        tenant, invoice, intent_id = stripe_paid
        version = ledger(tenant, invoice.pk)[0][2]
        response = refund(
            bearer(tenant.owner_user), invoice.pk, {"amount_cents": 5_000, "reason": "vet bill", "version": version}
        )
        assert response.status_code == 201, response.content
        [call] = fake_stripe.requests_to("POST", "/v1/refunds")
        [request] = every_row(RefundRequest)
        from payments_app.refunds import stripe_key

        assert call["params"] == {
            "payment_intent": intent_id,
            "amount": "5000",
            "metadata": {"breederhq_refund_key": stripe_key(request)},
        }
        # Derived from our payment row and the client's key, not from the invoice's version.
        assert call["idempotency_key"] == f"breederhq:refund:{intent_id}:{stripe_key(request)}"
        assert (request.idempotency_key, request.status, request.amount_cents) == ("api:refund-1", "succeeded", 5_000)
        refund_id = next(iter(fake_stripe.objects["refunds"]))
        assert (body(response)["method"], body(response)["provider_reference"]) == ("stripe", refund_id)
        assert ledger(tenant, invoice.pk) == (
            ("partially_refunded", 5_000, version + 1),
            [(5_000, "stripe", refund_id, "vet bill")],
        )
        # Stripe's charge.refunded (cumulative 5000) arrives afterwards: already recorded.
        from django.test import Client

        outcome = deliver_and_process(
            Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=5_000))
        ).outcome
        assert outcome == f"ignored: refunds up to 5000 already recorded on invoice {invoice.invoice_number}"
        assert ledger(tenant, invoice.pk)[0] == ("partially_refunded", 5_000, version + 1)

    def test_stripe_down_is_503_and_nothing_is_recorded(self, fake_stripe, stripe_paid):
        tenant, invoice, _ = stripe_paid
        version = ledger(tenant, invoice.pk)[0][2]
        fake_stripe.fail_next(1, status=500)
        response = refund(
            bearer(tenant.owner_user), invoice.pk, {"amount_cents": 5_000, "reason": "x", "version": version}
        )
        assert (response.status_code, body(response)["code"]) == (503, "stripe_unavailable")
        assert ledger(tenant, invoice.pk) == (("paid", 0, version), [])
        # The 5xx was not stored: the client's retry with the same key runs again and succeeds.
        retry = refund(
            bearer(tenant.owner_user), invoice.pk, {"amount_cents": 5_000, "reason": "x", "version": version}
        )
        assert retry.status_code == 201
        assert len(fake_stripe.objects["refunds"]) == 1

    def test_stripe_refusing_the_refund_is_409_and_nothing_is_recorded(self, fake_stripe, stripe_paid):
        tenant, invoice, _ = stripe_paid
        version = ledger(tenant, invoice.pk)[0][2]
        fake_stripe.fail_next(1, status=400)
        response = refund(
            bearer(tenant.owner_user), invoice.pk, {"amount_cents": 5_000, "reason": "x", "version": version}
        )
        assert (response.status_code, body(response)["code"]) == (409, "stripe_refund_refused")
        assert ledger(tenant, invoice.pk) == (("paid", 0, version), [])

    def test_a_notification_computed_before_the_api_refund_was_recorded_adds_only_what_is_missing(
        self, fake_stripe, stripe_paid
    ):
        """The webhook reads the invoice, then waits for its lock while the API records its refund: it
        brings the ledger to Stripe's cumulative total under the lock instead of adding its stale difference."""
        tenant, invoice, intent_id = stripe_paid
        version = ledger(tenant, invoice.pk)[0][2]
        assert (
            refund(
                bearer(tenant.owner_user), invoice.pk, {"amount_cents": 5_000, "reason": "vet bill", "version": version}
            ).status_code
            == 201
        )
        charge_id = fake_stripe.objects["payment_intents"][intent_id]["latest_charge"]

        def as_the_webhook(total: int, stale_difference: int):
            with tenant_context(tenant.pk):
                return services.invoice_refund(
                    invoice_id=invoice.pk,
                    amount_cents=stale_difference,
                    reason="refunded in Stripe",
                    idempotency_key=f"stripe:refund:{charge_id}:{total}",
                    method="stripe",
                    external_reference=charge_id,
                    refunded_total_cents=total,
                )

        assert as_the_webhook(5_000, 5_000) is None
        assert ledger(tenant, invoice.pk)[0] == ("partially_refunded", 5_000, version + 1)
        # Another 3000 refunded in Stripe's dashboard: the notification's total is 8000.
        as_the_webhook(8_000, 8_000)
        assert ledger(tenant, invoice.pk)[1][-1] == (3_000, "stripe", charge_id, "refunded in Stripe")
        assert ledger(tenant, invoice.pk)[0] == ("partially_refunded", 8_000, version + 2)
