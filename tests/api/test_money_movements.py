"""A connected account's money movements through the API: fed by Stripe's webhooks (real signatures,
the fake Stripe), read from our ledger by a tenant's owner or admin and by a service provider."""

from __future__ import annotations

import copy
import time

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from payments_app import services as payment_services
from payments_app.models import ConnectMoneyMovement
from tests.api.conftest import bearer, body, member
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.tenant import TenantFactory
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    connect_account,
    deliver_and_process,
    every_row,
    sent_tenant_invoice,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
URL = "/api/v1/tenants/me/money-movements/"
PROVIDER_URL = "/api/v1/marketplace/providers/me/money-movements/"
T = 1_780_000_000  # the charge's time; the rest follow it


def deliver(event):
    return deliver_and_process(Client(), event)


@pytest.fixture
def moved(fake_stripe, stripe_tenant):
    """A paid invoice of 250.00: its payment, fee and transfer (T), a refund (T+100), a payout (T+200)
    and a dispute (T+300), each told by Stripe's webhook."""
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    intent_id = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    deliver(stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id))))
    deliver(stripe_event("charge.succeeded", {**fake_stripe.succeeded_charge_of(intent_id), "created": T}))
    refund = {**fake_stripe.refund_of(intent_id, amount=2_000, refund_id="re_1"), "created": T + 100}
    deliver(stripe_event("refund.created", refund))
    account = stripe_tenant.account.stripe_account_id
    deliver(
        stripe_event(
            "payout.paid", {**fake_stripe.payout(amount=20_000, payout_id="po_1"), "created": T + 200}, account=account
        )
    )
    deliver(
        stripe_event(
            "charge.dispute.created",
            {**fake_stripe.dispute_of(intent_id, dispute_id="dp_1", amount=3_000), "created": T + 300},
        )
    )
    return stripe_tenant, intent_id, refund


def rows(response) -> list[tuple]:
    return [(r["kind"], r["direction"], r["amount_cents"], r["currency"]) for r in body(response)["results"]]


class TestTenantLedger:
    def test_the_owner_reads_every_movement_newest_first_in_minor_units(self, moved):
        st, _, _ = moved
        response = bearer(st.tenant.owner_user).get(URL)
        assert response.status_code == 200, response.content
        assert rows(response) == [
            ("dispute", "out", 3_000, "USD"),
            ("payout", "out", 20_000, "USD"),
            ("refund", "out", 2_000, "USD"),
            # Same time (the charge's): newest id first -> transfer, fee, payment, as they were recorded.
            ("transfer", "in", 23_750, "USD"),
            ("application_fee", "out", 1_250, "USD"),
            ("payment", "in", 25_000, "USD"),
        ]
        first = body(response)["results"][0]
        assert (first["stripe_object_id"], first["status"], first["invoice_kind"]) == (
            "dp_1",
            "needs_response",
            "tenant",
        )
        assert first["occurred_at"].startswith("2026-05-28T")

    def test_duplicated_and_repeated_notifications_record_each_object_once(self, fake_stripe, moved):
        st, intent_id, refund = moved
        deliver(stripe_event("refund.created", refund))  # a new event about the same refund
        charge = {
            **fake_stripe.charge_of(intent_id, amount_refunded=2_000),
            "created": T,
            "refunds": {"object": "list", "data": [refund]},
        }
        deliver(stripe_event("charge.refunded", charge))  # lists the same refund again
        assert every_row(ConnectMoneyMovement).filter(kind="refund").count() == 1
        assert len(rows(bearer(st.tenant.owner_user).get(URL))) == 6

    def test_an_older_refund_event_arriving_late_does_not_move_its_status_back(self, fake_stripe, moved):
        st, intent_id, refund = moved
        now = int(time.time())  # the fixture's refund.created was sent now
        deliver(stripe_event("refund.failed", {**refund, "status": "failed"}, created=now + 1000))
        deliver(stripe_event("refund.updated", {**refund, "status": "pending"}, created=now + 500))
        assert every_row(ConnectMoneyMovement).get(stripe_object_id="re_1").status == "failed"

    def test_filters_by_kind_and_time(self, moved):
        st, _, _ = moved
        client = bearer(st.tenant.owner_user)
        assert [r[0] for r in rows(client.get(URL, {"kind": ["payout", "refund"]}))] == ["payout", "refund"]
        window = {"occurred_after": "2026-05-28T20:28:20Z", "occurred_before": "2026-05-28T20:31:40Z"}
        assert [r[0] for r in rows(client.get(URL, window))] == ["payout", "refund"]
        # A window whose end is not after its start holds nothing (not an error: each bound is valid).
        inverted = {"occurred_after": window["occurred_before"], "occurred_before": window["occurred_after"]}
        assert rows(client.get(URL, inverted)) == []

    @pytest.mark.parametrize(
        "query, field",
        [
            ({"kind": "lunch"}, "kind"),
            ({"occurred_after": "yesterday"}, "occurred_after"),
            ({"occurred_before": "99999-01-01T00:00:00Z"}, "occurred_before"),
            ({"cursor": "not-ours"}, "cursor"),
        ],
    )
    def test_a_bad_filter_is_a_400_problem_naming_it(self, moved, query, field):
        st, _, _ = moved
        response = bearer(st.tenant.owner_user).get(URL, query)
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert (body(response)["code"], list(body(response)["errors"])) == ("validation_failed", [field])

    def test_pages_walk_the_whole_ledger_in_a_constant_number_of_queries(self, moved):
        st, _, _ = moved
        client = bearer(st.tenant.owner_user)
        client.get(URL)  # warm the identity cache: every request below reads the same way
        seen, url, counts = [], URL + "?page_size=2", []
        while url:
            with CaptureQueriesContext(connections[TENANT_DB]) as queries:
                response = client.get(url)
            counts.append(len(queries))
            seen += [r["id"] for r in body(response)["results"]]
            url = body(response)["next"]
        assert len(seen) == len(set(seen)) == 6
        with CaptureQueriesContext(connections[TENANT_DB]) as everything:
            assert len(body(client.get(URL, {"page_size": 50}))["results"]) == 6
        assert set(counts) == {len(everything)}, (counts, len(everything))

    def test_only_an_owner_or_admin_reads_it_and_never_another_tenants(self, moved):
        st, _, _ = moved
        assert bearer(member(st.tenant, "admin")).get(URL).status_code == 200
        for role in ("staff", "viewer"):
            refused = bearer(member(st.tenant, role)).get(URL)
            assert (refused.status_code, body(refused)["code"]) == (403, "role_forbidden")
        other = TenantFactory()
        connect_account(tenant=other)
        assert rows(bearer(other.owner_user).get(URL)) == []
        without_account = TenantFactory()
        assert body(bearer(without_account.owner_user).get(URL)) == {"next": None, "previous": None, "results": []}


class TestProviderLedger:
    def test_a_provider_reads_its_own_accounts_movements_only(self, fake_stripe, moved):
        login, provider = provider_with_login()
        account = connect_account(provider=provider).stripe_account_id
        deliver(
            stripe_event(
                "payout.paid", {**fake_stripe.payout(amount=7_500, payout_id="po_p"), "created": T}, account=account
            )
        )
        deliver(
            stripe_event(
                "payout.failed",
                {**fake_stripe.payout(amount=7_500, payout_id="po_p", status="failed"), "created": T},
                account=account,
            )
        )
        response = bearer(login).get(PROVIDER_URL)
        assert response.status_code == 200, response.content
        assert [(r["stripe_object_id"], r["status"], r["amount_cents"]) for r in body(response)["results"]] == [
            ("po_p", "failed", 7_500)
        ]
        assert body(bearer(login).get(PROVIDER_URL, {"kind": "payment"}))["results"] == []

    def test_a_buyer_is_not_a_provider(self, moved):
        login, _ = person()
        refused = bearer(login).get(PROVIDER_URL)
        assert (refused.status_code, body(refused)["code"]) == (403, "not_a_provider")
