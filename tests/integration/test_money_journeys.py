"""The two money journeys end to end, as a client app and Stripe would drive them.

Everything the people do goes through the HTTP API; everything Stripe does is the fake Stripe
(tests/fakes/stripe_server/) plus the signed webhooks it would POST to our endpoint. A real Celery
worker (a separate process, on the real Redis and the test databases) processes those webhooks,
opens payment intents after sends, relays outbox messages between the databases and runs the
nightly reconciliation sent to it as beat sends it. Nothing here calls a service or writes a row:
the test only reads emails (the verification code a person would find in their inbox) and, to know
when the worker is done, the API itself.

(a) A service provider: sign up, become a provider, Stripe onboarding, Stripe mode, a listing; a
    buyer finds and buys it, the provider invoices and sends, the buyer pays by card, webhooks mark
    it paid, the provider's money movements show payment, fee and transfer, a partial refund, the
    buyer sees it, reconciliation flags nothing.
(b) A breeder: the same with a tenant (breeder business) billing a marketplace sale with its tenant
    invoice, read back in /tenants/me/money-movements/.

Walkthrough for client developers: docs/api/journeys.md.
"""

from __future__ import annotations

import copy
import itertools
import random
import re

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import OutboundEmail
from tests.api.conftest import body, send_json
from tests.fakes.stripe_server import signed_delivery, stripe_event
from tests.payments_app.conftest import WEBHOOK_SECRET
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

API = "/api/v1/"
M = "/api/v1/marketplace/"
PASSWORD = "a long journey passphrase 42"
PUBLISHABLE_KEY = "pk_test_journeys"
_keys = itertools.count(1)


def key(label: str) -> dict:
    return {"Idempotency-Key": f"{label}-{next(_keys)}"}


# --- people, as a client app sees them ---------------------------------------------------------------


class Person:
    """Someone using the client app: their own IP and their current tokens."""

    def __init__(self, email: str, first_name: str):
        self.email, self.first_name = email, first_name
        self.ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.tokens: dict = {}

    @property
    def client(self) -> Client:
        headers = {"Authorization": f"Bearer {self.tokens['access']}"} if self.tokens else {}
        return Client(REMOTE_ADDR=self.ip, headers=headers)

    def call(self, method: str, url: str, data=None, *, expect: int = 200, **headers):
        response = (
            send_json(self.client, method, url, data if data is not None else {}, **headers)
            if method in {"post", "patch"}
            else getattr(self.client, method)(url, headers=headers or None)
        )
        assert response.status_code == expect, (method, url, response.status_code, response.content)
        return response

    def sign_up(self) -> Person:
        """Sign up, confirm the address with the emailed code, sign in."""
        self.call(
            "post",
            API + "auth/sign-up/",
            {"email": self.email, "password": PASSWORD, "first_name": self.first_name},
            expect=202,
        )
        email = (
            OutboundEmail.objects.using(TENANT_DB).filter(template="account_verify_email", to=[self.email]).latest("id")
        )
        code = re.search(r"code, if the app asks for it: (\S+)", email.text_body).group(1)
        self.call("post", API + "auth/verify-email/", {"token": code})
        self.tokens = body(self.call("post", API + "auth/token/", {"email": self.email, "password": PASSWORD}))
        return self

    def refresh(self) -> None:
        """A new token pair: its claims name what was made since (tenant, marketplace identity)."""
        self.tokens = body(self.call("post", API + "auth/token/refresh/", {"refresh": self.tokens["refresh"]}))


def stripe_posts(event: dict) -> None:
    """Stripe delivers the event to our webhook endpoint with a real signature (answered at once;
    the worker applies it)."""
    payload, header = signed_delivery(event, WEBHOOK_SECRET)
    response = Client().post(
        API + "payments/stripe/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200, response.content


def onboard(fake, person: Person, base: str) -> str:
    """Start Stripe onboarding at `base` (…/stripe-account/), finish it on Stripe's side and let
    Stripe's `account.updated` reach us. Returns the connected account's id."""
    started = body(person.call("post", base + "onboarding/", expect=201, **key("onboard")))
    account_id = started["stripe_account"]["stripe_account_id"]
    assert started["url"].startswith("https://connect.stripe.com/setup/")
    assert (started["stripe_account"]["status"], started["stripe_account"]["ready"]) == ("pending", False)
    fake.complete_onboarding(account_id)  # the person fills in Stripe's hosted pages
    stripe_posts(fake.account_updated(account_id))
    assert wait_until(lambda: body(person.call("get", base))["ready"], timeout=60), "account.updated never applied"
    state = body(person.call("get", base))
    assert (state["status"], state["charges_enabled"], state["payouts_enabled"]) == ("enabled", True, True)
    return account_id


def switch_to_stripe(person: Person, url: str) -> None:
    current = person.call("get", url)
    assert body(current)["payment_mode"] == "manual"
    changed = person.call("patch", url, {"payment_mode": "stripe"}, **{"If-Match": current["ETag"]}, **key("mode"))
    assert body(changed)["payment_mode"] == "stripe"


def publish_listing(seller: Person, *, title: str, category: str, price_cents: int) -> dict:
    listing = body(
        seller.call(
            "post",
            M + "providers/me/listings/",
            {
                "title": title,
                "category": category,
                "price_cents": price_cents,
                "city": "Austin",
                "state": "TX",
                "description": f"{title}, in Austin",
            },
            expect=201,
            **key("listing"),
        )
    )
    published = body(
        seller.call(
            "patch",
            f"{M}providers/me/listings/{listing['id']}/",
            {"action": "publish", "version": listing["version"]},
            **key("publish"),
        )
    )
    assert published["status"] == "active"
    return published


def find_and_buy(buyer: Person, *, query: str, listing_id: int) -> dict:
    """The buyer joins the marketplace, finds the listing in the public search and buys it."""
    assert body(buyer.call("post", M + "me/", expect=201))["kind"] == "buyer"
    buyer.refresh()
    found = body(Client(REMOTE_ADDR=buyer.ip).get(M + "listings/", {"q": query, "state": "TX"}))["results"]
    assert [row["id"] for row in found] == [listing_id]
    bought = body(buyer.call("post", M + "transactions/", {"listing_id": listing_id}, expect=201, **key("buy")))
    assert bought["status"] == "pending_invoice"
    return bought


def pay_by_card(fake, buyer: Person, url: str, *, amount_cents: int, invoice_kind: str) -> str:
    """The buyer asks for the payment (client_secret for the Payment Element) and pays; Stripe then
    sends what it sends for a destination charge. Returns the payment intent id."""
    card = body(buyer.call("post", url))
    assert (card["invoice_kind"], card["amount_cents"], card["currency"], card["publishable_key"], card["status"]) == (
        invoice_kind,
        amount_cents,
        "USD",
        PUBLISHABLE_KEY,
        "requires_payment_method",
    )
    intent_id = card["payment_intent_id"]
    assert card["client_secret"].startswith(f"{intent_id}_secret_")
    fake.succeed_intent(intent_id)  # stripe.confirmPayment() in the browser
    stripe_posts(stripe_event("payment_intent.succeeded", copy.deepcopy(fake.objects["payment_intents"][intent_id])))
    stripe_posts(stripe_event("charge.succeeded", fake.succeeded_charge_of(intent_id)))
    stripe_posts(stripe_event("application_fee.created", fake.application_fee_of(intent_id)))
    stripe_posts(stripe_event("transfer.created", fake.transfer_of(intent_id)))
    return intent_id


def stripe_reports_refunds(fake, intent_id: str) -> None:
    """What Stripe sends after a refund it made: the refund and the refunded charge."""
    for refund in fake.refunded_charge_of(intent_id)["refunds"]["data"]:
        stripe_posts(stripe_event("refund.created", refund))
    stripe_posts(stripe_event("charge.refunded", fake.refunded_charge_of(intent_id)))


def movements(person: Person, url: str) -> list[tuple]:
    return sorted(
        (row["kind"], row["direction"], row["amount_cents"], row["currency"])
        for row in body(person.call("get", url))["results"]
    )


def nightly_reconciliation() -> dict:
    """Beat's nightly job, run by the worker; the counts of the run it made."""
    from payments_app.models import ReconciliationItem, ReconciliationRun
    from payments_app.tasks import reconcile_stripe

    result = reconcile_stripe.delay().get(timeout=60)
    run = ReconciliationRun.objects.get(pk=result["run"], trigger="beat", finished_at__isnull=False)
    return {
        "synced": run.synced,
        "mismatch": run.mismatch,
        "missing_remote": run.missing_remote,
        "missing_local": run.missing_local,
        "error": run.error,
        "items": ReconciliationItem.objects.filter(run=run).count(),
    }


NOTHING_FLAGGED = {"synced": 1, "mismatch": 0, "missing_remote": 0, "missing_local": 0, "error": "", "items": 0}


@pytest.fixture
def worker(fake_stripe, start_celery_worker, settings):
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    return start_celery_worker(
        STRIPE_API_BASE=fake_stripe.url, STRIPE_SECRET_KEY="sk_test_fake", STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY
    )


def test_a_service_provider_sells_is_paid_by_card_refunds_part_and_reconciliation_agrees(fake_stripe, worker):
    # The provider: signs up, becomes a provider, onboards to Stripe, chooses Stripe, lists.
    groomer = Person("groomer@journeys.test", "Gwen").sign_up()
    profile = groomer.call(
        "post",
        M + "providers/me/",
        {"business_name": "Gwen's Grooming", "city": "Austin", "state": "TX", "primary_category": "grooming"},
        expect=201,
        **key("provider"),
    )
    assert body(profile)["currency"] == "USD"
    groomer.refresh()
    account_id = onboard(fake_stripe, groomer, M + "providers/me/stripe-account/")
    switch_to_stripe(groomer, M + "providers/me/payment-settings/")
    listing = publish_listing(groomer, title="Full poodle groom", category="grooming", price_cents=8_000)

    # The buyer: signs up, finds the listing, buys it.
    buyer = Person("buyer@journeys.test", "Bea").sign_up()
    sale = find_and_buy(buyer, query="poodle groom", listing_id=listing["id"])
    assert [row["id"] for row in body(groomer.call("get", M + "transactions/?as=provider"))["results"]] == [sale["id"]]

    # The provider invoices the sale in Stripe mode and sends it.
    invoice = body(
        groomer.call(
            "post",
            M + "invoices/",
            {
                "transaction_id": sale["id"],
                "line_items": [{"description": "Full poodle groom", "unit_price_cents": 8_000}],
            },
            expect=201,
            **key("invoice"),
        )
    )
    assert (invoice["status"], invoice["payment_mode_snapshot"], invoice["total_cents"]) == ("draft", "stripe", 8_000)
    invoice_url = f"{M}invoices/{invoice['id']}/"
    sent = body(groomer.call("patch", invoice_url, {"action": "send", "version": invoice["version"]}, **key("send")))
    assert sent["status"] == "sent"

    # The buyer pays by card; only Stripe's webhooks mark the invoice paid.
    intent_id = pay_by_card(
        fake_stripe, buyer, invoice_url + "card-payment/", amount_cents=8_000, invoice_kind="marketplace"
    )
    assert wait_until(lambda: body(buyer.call("get", invoice_url))["status"] == "paid", timeout=60)
    assert fake_stripe.objects["payment_intents"][intent_id]["transfer_data"] == {"destination": account_id}
    assert body(buyer.call("get", f"{M}transactions/{sale['id']}/"))["status"] == "paid"

    # The provider sees the payment, the platform's fee (5 %) and the transfer to its account.
    ledger = M + "providers/me/money-movements/"
    paid = [("application_fee", "out", 400, "USD"), ("payment", "in", 8_000, "USD"), ("transfer", "in", 7_600, "USD")]
    assert wait_until(lambda: movements(groomer, ledger) == paid, timeout=60), movements(groomer, ledger)

    # The provider refunds 20.00 through the API; Stripe refunds it and reports it.
    current = body(groomer.call("get", invoice_url))
    refunded = body(
        groomer.call(
            "patch",
            invoice_url,
            {"action": "refund", "amount_cents": 2_000, "version": current["version"]},
            **key("refund"),
        )
    )
    assert (refunded["status"], refunded["refunded_cents"]) == ("partially_refunded", 2_000)
    [stripe_refund] = fake_stripe.objects["refunds"].values()
    assert (stripe_refund["payment_intent"], stripe_refund["amount"]) == (intent_id, 2_000)
    stripe_reports_refunds(fake_stripe, intent_id)
    assert wait_until(
        lambda: movements(groomer, ledger) == sorted([*paid, ("refund", "out", 2_000, "USD")]), timeout=60
    ), movements(groomer, ledger)

    # The buyer sees the refund on the invoice and in its timeline, counted once.
    seen = body(buyer.call("get", invoice_url))
    assert (seen["status"], seen["refunded_cents"], seen["total_cents"]) == ("partially_refunded", 2_000, 8_000)
    timeline = body(buyer.call("get", invoice_url + "timeline/"))["results"]
    assert [entry["new_status"] for entry in timeline if entry["source"] == "change"][-2:] == [
        "paid",
        "partially_refunded",
    ]

    # The nightly reconciliation finds Stripe and us in agreement.
    assert nightly_reconciliation() == NOTHING_FLAGGED


def test_a_breeder_bills_a_sale_is_paid_by_card_refunds_part_and_reconciliation_agrees(fake_stripe, worker):
    # The breeder: signs up, creates its business (a tenant), onboards it to Stripe, chooses Stripe,
    # becomes the business's marketplace provider and lists a puppy.
    breeder = Person("owner@sunny-journeys.test", "Sam").sign_up()
    tenant = body(
        breeder.call("post", API + "tenants/", {"name": "Sunny Journeys Kennels"}, expect=201, **key("tenant"))
    )
    breeder.refresh()
    account_id = onboard(fake_stripe, breeder, API + "tenants/me/stripe-account/")
    switch_to_stripe(breeder, API + "tenants/me/payment-settings/")
    breeder.call(
        "post",
        M + "providers/me/",
        {
            "business_name": "Sunny Journeys Kennels",
            "kind": "breeder",
            "tenant_id": tenant["id"],
            "city": "Austin",
            "state": "TX",
        },
        expect=201,
        **key("provider"),
    )
    breeder.refresh()
    listing = publish_listing(breeder, title="Golden retriever puppy", category="puppies", price_cents=150_000)

    # The buyer finds the puppy and buys it.
    buyer = Person("family@journeys.test", "Fay").sign_up()
    sale = find_and_buy(buyer, query="golden retriever", listing_id=listing["id"])

    # The breeder bills the sale with its tenant invoice (to its contact for the buyer) and sends it.
    invoice = body(
        breeder.call(
            "post",
            API + "invoices/from-marketplace-transaction/",
            {"transaction_id": sale["id"]},
            expect=201,
            **key("bill"),
        )
    )
    assert (invoice["status"], invoice["total_cents"], invoice["currency"]) == ("draft", 150_000, "USD")
    contact = body(breeder.call("get", f"{API}contacts/{invoice['contact']['id']}/"))
    assert contact["email"] == buyer.email
    invoice_url = f"{API}invoices/{invoice['id']}/"
    sent = body(breeder.call("patch", invoice_url, {"action": "send", "version": invoice["version"]}, **key("send")))
    assert (sent["status"], sent["payment_mode_snapshot"]) == ("sent", "stripe")

    # The buyer pays through its purchase; Stripe's webhooks mark the invoice (and the sale) paid.
    intent_id = pay_by_card(
        fake_stripe, buyer, f"{M}transactions/{sale['id']}/card-payment/", amount_cents=150_000, invoice_kind="tenant"
    )
    assert fake_stripe.objects["payment_intents"][intent_id]["transfer_data"] == {"destination": account_id}
    assert wait_until(lambda: body(breeder.call("get", invoice_url))["status"] == "paid", timeout=60)
    purchase = f"{M}transactions/{sale['id']}/"
    assert wait_until(lambda: body(buyer.call("get", purchase))["status"] == "paid", timeout=60)

    # The business sees the payment, the fee and the transfer.
    ledger = API + "tenants/me/money-movements/"
    paid = [
        ("application_fee", "out", 7_500, "USD"),
        ("payment", "in", 150_000, "USD"),
        ("transfer", "in", 142_500, "USD"),
    ]
    assert wait_until(lambda: movements(breeder, ledger) == paid, timeout=60), movements(breeder, ledger)

    # The breeder refunds 100.00; Stripe refunds it and reports it.
    current = body(breeder.call("get", invoice_url))
    refund = body(
        breeder.call(
            "post",
            invoice_url + "refunds/",
            {"amount_cents": 10_000, "reason": "Vet check fee", "version": current["version"]},
            expect=201,
            **key("refund"),
        )
    )
    assert refund["amount_cents"] == 10_000
    assert [r["amount"] for r in fake_stripe.objects["refunds"].values()] == [10_000]
    stripe_reports_refunds(fake_stripe, intent_id)
    assert wait_until(
        lambda: movements(breeder, ledger) == sorted([*paid, ("refund", "out", 10_000, "USD")]), timeout=60
    ), movements(breeder, ledger)
    after = body(breeder.call("get", invoice_url))
    assert (after["status"], after["refunded_cents"]) == ("partially_refunded", 10_000)

    # The buyer sees the refund on its purchase (relayed from the breeder's invoice).
    assert wait_until(lambda: body(buyer.call("get", purchase))["refunded_cents"] == 10_000, timeout=60), body(
        buyer.call("get", purchase)
    )

    # The nightly reconciliation finds Stripe and us in agreement.
    assert nightly_reconciliation() == NOTHING_FLAGGED
