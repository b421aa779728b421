"""Zero- and three-decimal currencies end to end through the API, in both apps: a JPY and a KWD
invoice created and sent in Stripe mode reach Stripe (the fake, which checks amounts as Stripe does)
in minor units; amounts off a currency's step, outside Stripe's charge limits, or in a currency we
do not take are 400 problems with their own codes, and change nothing."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.models.per_database import MarketplaceDbOutboundEmail, TenantDbOutboundEmail
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceInvoice, Provider
from payments_app import services as payment_services
from payments_app.models import InvoicePayment
from payments_app.providers import PaymentRequest, StripeConnectProvider
from tenant_app.models import Invoice, Tenant
from tests.api.conftest import bearer, body, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import (
    connect_account,
    deliver_and_process,
    every_row,
)

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))
M = "/api/v1/marketplace/"


def tenant_client(st):
    return bearer(st.tenant.owner_user, tenant_id=st.tenant.pk)


def tenant_invoices(st):
    with tenant_context(st.tenant.pk):
        return list(Invoice.objects.values_list("currency", "total_cents", "status"))


def pay(fake, intent_id):
    return deliver_and_process(
        Client(), stripe_event("payment_intent.succeeded", copy.deepcopy(fake.succeed_intent(intent_id)))
    )


@pytest.mark.parametrize(
    ("currency", "price", "tax", "total", "fee", "shown"),
    [
        ("JPY", 1_500, 120, 3_120, 156, "3,120 JPY"),  # yen: no minor unit
        ("KWD", 12_340, 1_230, 25_910, 1_300, "25.910 KWD"),  # fils: thousandths ending in 0; fee 1295.5 -> 1300
    ],
)
def test_a_tenant_invoice_in_a_zero_or_three_decimal_currency_reaches_stripe_in_minor_units(
    fake_stripe, stripe_tenant, currency, price, tax, total, fee, shown
):
    client = tenant_client(stripe_tenant)
    created = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": stripe_tenant.contact.pk,
            "currency": currency,
            "tax_cents": tax,
            "lines": [{"description": "Puppy deposit", "unit_price_cents": price, "quantity": 2}],
        },
    )
    assert created.status_code == 201, created.content
    assert (body(created)["currency"], body(created)["total_cents"]) == (currency, total)
    invoice_id = body(created)["id"]
    sent = send_json(client, "patch", f"/api/v1/invoices/{invoice_id}/", {"action": "send", "version": 1})
    assert sent.status_code == 200, sent.content
    row = payment_services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice_id, tenant_id=stripe_tenant.tenant.pk
    )
    intent = fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]
    assert (intent["amount"], intent["currency"], intent["application_fee_amount"]) == (total, currency.lower(), fee)
    assert (row.amount_cents, row.currency, row.application_fee_cents) == (total, currency, fee)
    assert pay(fake_stripe, row.stripe_payment_intent_id).outcome.endswith("paid")
    assert tenant_invoices(stripe_tenant) == [(currency, total, "paid")]
    # People see the currency's own decimals (the sent email and the receipt).
    with tenant_context(stripe_tenant.tenant.pk):
        bodies = list(TenantDbOutboundEmail.objects.values_list("text_body", flat=True))
    assert bodies and all(shown in text for text in bodies), bodies


@pytest.mark.parametrize(
    ("currency", "price", "total", "fee"), [("JPY", 8_000, 8_000, 400), ("KWD", 30_010, 30_010, 1_500)]
)
def test_a_marketplace_invoice_in_jpy_or_kwd_reaches_stripe_in_minor_units(fake_stripe, currency, price, total, fee):
    login, provider = provider_with_login(payment_mode="stripe", currency=currency)
    connect_account(provider=provider)
    _, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=price)
    client = bearer(login)
    created = send_json(
        client,
        "post",
        f"{M}invoices/",
        {"transaction_id": tx.pk, "line_items": [{"description": "Groom", "unit_price_cents": price, "quantity": 1}]},
    )
    assert created.status_code == 201, created.content
    assert (body(created)["currency"], body(created)["total_cents"]) == (currency, total)
    url = f"{M}invoices/{body(created)['id']}/"
    assert send_json(client, "patch", url, {"action": "send", "version": 1}).status_code == 200
    row = payment_services.invoice_payment_open(invoice_kind="marketplace", invoice_id=body(created)["id"])
    intent = fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]
    assert (intent["amount"], intent["currency"], intent["application_fee_amount"]) == (total, currency.lower(), fee)
    assert pay(fake_stripe, row.stripe_payment_intent_id).outcome.endswith("paid")
    assert MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=body(created)["id"]).status == "paid"
    assert MarketplaceDbOutboundEmail.objects.using(MARKETPLACE_DB).exists()


def test_three_decimal_amounts_must_end_in_zero_and_nothing_is_written(stripe_tenant):
    client = tenant_client(stripe_tenant)
    refused = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": stripe_tenant.contact.pk,
            "currency": "KWD",
            "tax_cents": 5,
            "lines": [{"description": "Deposit", "unit_price_cents": 12_345, "quantity": 1}],
        },
    )
    assert (refused.status_code, refused["Content-Type"]) == (400, "application/problem+json")
    assert body(refused)["code"] == "validation_failed"
    assert set(body(refused)["errors"]) == {"lines[0].unit_price_cents", "tax_cents"}
    assert tenant_invoices(stripe_tenant) == []
    # The same amounts in the tenant's default currency when none is named: its step applies too.
    with tenant_context(stripe_tenant.tenant.pk):
        Tenant.objects.filter(pk=stripe_tenant.tenant.pk).update(default_currency="BHD")
    refused = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {"contact_id": stripe_tenant.contact.pk, "lines": [{"description": "Deposit", "unit_price_cents": 7}]},
    )
    assert (refused.status_code, list(body(refused)["errors"])) == (400, ["lines[0].unit_price_cents"])
    assert tenant_invoices(stripe_tenant) == []


@pytest.mark.parametrize(
    ("currency", "total", "code"),
    [
        ("JPY", 49, "amount_below_stripe_minimum"),
        ("USD", 49, "amount_below_stripe_minimum"),
        ("JPY", 100_000_000, "amount_over_stripe_maximum"),
        ("KWD", 100_000_000_000, "amount_over_stripe_maximum"),
    ],
)
def test_a_card_charge_outside_stripes_limits_is_refused_at_send_and_stays_a_draft(
    fake_stripe, stripe_tenant, currency, total, code
):
    client = tenant_client(stripe_tenant)
    created = send_json(
        client,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": stripe_tenant.contact.pk,
            "currency": currency,
            "lines": [{"description": "x", "unit_price_cents": total}],
        },
    )
    assert created.status_code == 201, created.content
    refused = send_json(client, "patch", f"/api/v1/invoices/{body(created)['id']}/", {"action": "send", "version": 1})
    assert (refused.status_code, refused["Content-Type"], body(refused)["code"]) == (
        400,
        "application/problem+json",
        code,
    )
    assert list(body(refused)["errors"]) == ["total_cents"]
    assert tenant_invoices(stripe_tenant) == [(currency, total, "draft")]
    assert every_row(InvoicePayment).count() == 0 and fake_stripe.requests == []


def test_an_amount_past_bigint_in_a_zero_decimal_currency_is_a_400(stripe_tenant):
    refused = send_json(
        tenant_client(stripe_tenant),
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": stripe_tenant.contact.pk,
            "currency": "JPY",
            "lines": [{"description": "x", "unit_price_cents": 2**63, "quantity": 1}],
        },
    )
    assert (refused.status_code, body(refused)["code"]) == (400, "validation_failed")
    assert tenant_invoices(stripe_tenant) == []


class TestUnsupportedCurrencies:
    @pytest.mark.parametrize("code", ["XYZ", "jpy", "EURO", "", 392])
    def test_a_tenant_invoice_in_a_currency_we_do_not_take(self, stripe_tenant, code):
        refused = send_json(
            tenant_client(stripe_tenant),
            "post",
            "/api/v1/invoices/",
            {
                "contact_id": stripe_tenant.contact.pk,
                "currency": code,
                "lines": [{"description": "x", "unit_price_cents": 100}],
            },
        )
        assert (refused.status_code, refused["Content-Type"]) == (400, "application/problem+json")
        assert (body(refused)["code"], list(body(refused)["errors"])) == ("unsupported_currency", ["currency"])
        assert tenant_invoices(stripe_tenant) == []

    def test_a_tenant_default_currency_and_a_provider_currency(self, stripe_tenant):
        refused = send_json(
            tenant_client(stripe_tenant), "patch", "/api/v1/tenants/me/", {"default_currency": "XTS", "version": 1}
        )
        assert (refused.status_code, body(refused)["code"]) == (400, "unsupported_currency")
        assert Tenant.objects.get(pk=stripe_tenant.tenant.pk).default_currency == "USD"
        login, _ = person()
        refused = send_json(bearer(login), "post", f"{M}providers/me/", {"business_name": "Grooms", "currency": "ZZZ"})
        assert (refused.status_code, body(refused)["code"], list(body(refused)["errors"])) == (
            400,
            "unsupported_currency",
            ["currency"],
        )
        assert not Provider.all_objects.using(MARKETPLACE_DB).filter(business_name="Grooms").exists()
        made = send_json(bearer(login), "post", f"{M}providers/me/", {"business_name": "Grooms", "currency": "KWD"})
        assert (made.status_code, Provider.all_objects.using(MARKETPLACE_DB).get(business_name="Grooms").currency) == (
            201,
            "KWD",
        )


class TestTheFakeStripeChecksAmountsLikeStripe:
    """So the tests above prove something: the fake refuses what Stripe refuses."""

    @pytest.mark.parametrize(
        ("currency", "amount", "code"),
        [
            ("KWD", 12_345, "invalid_charge_amount"),
            ("ISK", 12_345, "invalid_charge_amount"),
            ("JPY", 49, "amount_too_small"),
            ("USD", 100_000_000, "amount_too_large"),
        ],
    )
    def test_refused(self, fake_stripe, currency, amount, code):
        import stripe

        request = PaymentRequest("tenant", 1, 1, amount, currency, "acct_x")
        with pytest.raises(stripe.InvalidRequestError) as refused:
            StripeConnectProvider().execute(request)
        assert refused.value.code == code
        assert fake_stripe.objects["payment_intents"] == {}
