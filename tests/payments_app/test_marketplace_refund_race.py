"""A marketplace `charge.refunded` that read its invoice before a refund was recorded through the API
(or the service) adds only what the ledger lacks: the difference with Stripe's cumulative total is
re-computed under the invoice's row lock, as for tenant invoices (tests/api/test_tenant_refunds.py).

The interleaving is forced deterministically: the handler reads its facts, then the provider's refund
is recorded and committed, and only then does the handler take the invoice's lock."""

import copy

import pytest
from django.test import Client

from breederhq.databases import DATABASE_ALIASES
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.services import LineItem
from payments_app import services, webhook_handlers
from tests.api.conftest import bearer, body, send_json
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import UserFactory
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def paid_marketplace_invoice(fake_stripe):
    """A Stripe-mode marketplace invoice of 80.00, paid through its payment intent (webhook processed),
    and the provider's login."""
    login = UserFactory()
    provider = ProviderFactory(
        payment_mode="stripe", user=MarketplaceUserFactory(kind="service_provider", tenant_user_id=login.pk)
    )
    connect_account(provider=provider)
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
    )
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
    intent_id = services.invoice_payment_open(
        invoice_kind="marketplace", invoice_id=invoice.pk
    ).stripe_payment_intent_id
    paid = stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(intent_id)))
    assert deliver_and_process(Client(), paid).outcome == f"invoice {invoice.number} paid"
    return login, MarketplaceInvoice.objects.get(pk=invoice.pk), intent_id


def state(invoice_id: int):
    invoice = MarketplaceInvoice.objects.get(pk=invoice_id)
    tx = MarketplaceTransaction.objects.get(pk=invoice.transaction_id)
    return invoice.status, invoice.refunded_cents, invoice.version, tx.refunded_cents


def refund_recorded_after_the_handler_read_its_facts(monkeypatch, record):
    """The handler's `_facts` runs for real; right after it, `record()` commits a refund, before the
    handler locks the invoice (the window a webhook arriving just after an API refund falls into)."""
    real_facts = webhook_handlers._facts
    seen = []

    def facts_then_refund(target):
        facts = real_facts(target)
        if not seen:
            seen.append(facts.refunded_cents)
            record()
        return facts

    monkeypatch.setattr(webhook_handlers, "_facts", facts_then_refund)
    return seen


def test_an_api_refund_recorded_after_the_webhook_read_is_not_recorded_twice(
    monkeypatch, fake_stripe, paid_marketplace_invoice
):
    login, invoice, intent_id = paid_marketplace_invoice
    version = invoice.version

    def provider_refunds_through_the_api():
        response = send_json(
            bearer(login),
            "patch",
            f"/api/v1/marketplace/invoices/{invoice.pk}/",
            {"action": "refund", "amount_cents": 3_000, "version": version},
        )
        assert response.status_code == 200, response.content
        assert body(response)["refunded_cents"] == 3_000

    seen = refund_recorded_after_the_handler_read_its_facts(monkeypatch, provider_refunds_through_the_api)
    event = stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=3_000))
    processed = deliver_and_process(Client(), event)
    assert seen == [0]  # the handler read the invoice before the API's refund...
    assert processed.status == "succeeded"
    # ...and still recorded nothing more: Stripe's total of 3000 is what the ledger already holds.
    assert state(invoice.pk) == ("partially_refunded", 3_000, version + 1, 3_000)


def test_the_webhook_adds_only_what_the_api_refund_left_missing(monkeypatch, fake_stripe, paid_marketplace_invoice):
    """Stripe says 5000 in all; 3000 of it was recorded through the service after the handler read 0:
    the webhook adds the missing 2000, not its stale difference of 5000."""
    _, invoice, intent_id = paid_marketplace_invoice
    version = invoice.version

    def provider_refunds_through_the_service():
        marketplace_services.marketplace_invoice_refund(
            invoice_id=invoice.pk, amount_cents=3_000, expected_version=version
        )

    refund_recorded_after_the_handler_read_its_facts(monkeypatch, provider_refunds_through_the_service)
    event = stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=5_000))
    assert deliver_and_process(Client(), event).status == "succeeded"
    assert state(invoice.pk) == ("partially_refunded", 5_000, version + 2, 5_000)
    # The same notification again (or an older one) finds nothing to add.
    monkeypatch.undo()
    again = deliver_and_process(
        Client(), stripe_event("charge.refunded", fake_stripe.charge_of(intent_id, amount_refunded=5_000))
    )
    assert again.outcome == f"ignored: refunds up to 5000 already recorded on invoice {invoice.number}"
    assert state(invoice.pk) == ("partially_refunded", 5_000, version + 2, 5_000)


def test_the_service_records_only_the_missing_part_of_a_cumulative_total(paid_marketplace_invoice):
    """The service itself, as the webhook calls it with a stale difference: the total decides."""
    _, invoice, _ = paid_marketplace_invoice
    version = invoice.version
    marketplace_services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=3_000)
    unchanged = marketplace_services.marketplace_invoice_refund(
        invoice_id=invoice.pk, amount_cents=3_000, refunded_total_cents=3_000
    )
    assert (unchanged.refunded_cents, unchanged.version) == (3_000, version + 1)
    marketplace_services.marketplace_invoice_refund(
        invoice_id=invoice.pk, amount_cents=8_000, refunded_total_cents=8_000
    )
    assert state(invoice.pk) == ("refunded", 8_000, version + 2, 8_000)
