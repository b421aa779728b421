"""Stripe payment intents for Stripe-mode invoices: once per invoice, our key, no locks held; and
the manual fallback for new invoices when Stripe is unusable (visible and audited)."""

import pytest

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.errors import Conflict, ValidationFailed
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import InvoicePayment
from payments_app.providers import StripeConnectProvider, application_fee_cents
from payments_app.stripe_gateway import StripeUnavailable, stripe_breaker
from tenant_app import services as tenant_services
from tenant_app.models import Invoice, InvoiceAuditLog
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import make_invoice, receipt_file
from tests.payments_app.conftest import connect_account, every_row, owner_save, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def open_tenant(st, invoice):
    return services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=st.tenant.pk)


class TestPaymentIntent:
    def test_one_payment_intent_per_invoice_with_our_key_metadata_and_fee(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
        first = open_tenant(stripe_tenant, invoice)
        second = open_tenant(stripe_tenant, invoice)
        assert first.pk == second.pk
        assert first.stripe_payment_intent_id == second.stripe_payment_intent_id
        intents = fake_stripe.objects["payment_intents"]
        assert list(intents) == [first.stripe_payment_intent_id]
        intent = intents[first.stripe_payment_intent_id]
        assert (intent["amount"], intent["currency"], intent["application_fee_amount"]) == (25_000, "usd", 1_250)
        assert intent["transfer_data"] == {"destination": stripe_tenant.account.stripe_account_id}
        assert intent["metadata"] == {
            "breederhq_invoice_kind": "tenant",
            "breederhq_invoice_id": str(invoice.pk),
            "breederhq_tenant_id": str(stripe_tenant.tenant.pk),
        }
        # The second call found the stored id and never reached Stripe.
        posts = fake_stripe.requests_to("POST", "/v1/payment_intents")
        assert [p["idempotency_key"] for p in posts] == [f"breederhq:invoice.payment_intent:tenant:{invoice.pk}"]
        row = every_row(InvoicePayment).get()
        assert (
            row.provider,
            row.fallback_reason,
            row.amount_cents,
            row.currency,
            row.application_fee_cents,
            row.owner_tenant_id,
            row.stripe_status,
        ) == ("stripe", "", 25_000, "USD", 1_250, stripe_tenant.tenant.pk, "requires_payment_method")

    def test_a_crash_between_stripe_and_our_save_gets_the_same_intent_back(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant)
        row = open_tenant(stripe_tenant, invoice)
        created = row.stripe_payment_intent_id
        # As if the worker died after Stripe answered and before the id was saved.
        every_row(InvoicePayment).filter(pk=row.pk).update(stripe_payment_intent_id=None, stripe_status="")
        again = open_tenant(stripe_tenant, invoice)
        assert again.stripe_payment_intent_id == created
        assert len(fake_stripe.objects["payment_intents"]) == 1
        keys = {p["idempotency_key"] for p in fake_stripe.requests_to("POST", "/v1/payment_intents")}
        assert keys == {f"breederhq:invoice.payment_intent:tenant:{invoice.pk}"}

    def test_an_outage_leaves_no_intent_and_a_later_retry_creates_it(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant)
        fake_stripe.fail_next(1, status=503)
        with pytest.raises(StripeUnavailable):
            open_tenant(stripe_tenant, invoice)
        assert every_row(InvoicePayment).get().stripe_payment_intent_id is None
        assert fake_stripe.objects["payment_intents"] == {}
        assert open_tenant(stripe_tenant, invoice).stripe_payment_intent_id in fake_stripe.objects["payment_intents"]

    def test_only_sent_stripe_invoices_with_a_usable_account(self, fake_stripe, stripe_tenant):
        with tenant_context(stripe_tenant.tenant.pk):
            draft = make_invoice(contact=stripe_tenant.contact)
        with pytest.raises(Conflict) as refused:
            open_tenant(stripe_tenant, draft)
        assert refused.value.code == "invoice_not_sent"
        invoice = sent_tenant_invoice(stripe_tenant)
        stripe_tenant.account.status = "restricted"
        owner_save(stripe_tenant.account)
        with pytest.raises(Conflict) as refused:
            open_tenant(stripe_tenant, invoice)
        assert refused.value.code == "stripe_account_unusable"
        assert fake_stripe.requests == []
        # The send wrote the row; it stays "unopened" (the sweep retries it once the account is usable).
        assert list(every_row(InvoicePayment).values_list("invoice_id", "open_state", "stripe_payment_intent_id")) == [
            (invoice.pk, "unopened", None)
        ]

    def test_the_fee_is_rounded_half_up_in_whole_cents(self):
        assert [application_fee_cents(a, "USD") for a in (0, 9, 10, 11, 12_345)] == [0, 0, 1, 1, 617]

    def test_marketplace_invoices_get_their_intent_too(self, fake_stripe):
        provider = ProviderFactory(payment_mode="stripe")
        connect_account(provider=provider)
        tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
        invoice = marketplace_services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
        )
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        row = services.invoice_payment_open(invoice_kind="marketplace", invoice_id=invoice.pk)
        intent = fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]
        assert intent["metadata"] == {"breederhq_invoice_kind": "marketplace", "breederhq_invoice_id": str(invoice.pk)}
        assert (row.owner_tenant_id, row.amount_cents) == (None, 8_000)

    def test_the_provider_interface_refunds_and_cancels_through_stripe(self, fake_stripe, stripe_tenant):
        invoice = sent_tenant_invoice(stripe_tenant)
        intent_id = open_tenant(stripe_tenant, invoice).stripe_payment_intent_id
        StripeConnectProvider().cancel(intent_id)
        assert fake_stripe.objects["payment_intents"][intent_id]["status"] == "canceled"
        paid = open_tenant(stripe_tenant, sent_tenant_invoice(stripe_tenant)).stripe_payment_intent_id
        fake_stripe.succeed_intent(paid)  # Stripe refunds only a successful charge
        refund = StripeConnectProvider().refund(paid, amount_cents=500, key="cn-1")
        assert (refund.amount_cents, refund.status) == (500, "succeeded")


class TestManualFallback:
    def test_an_open_breaker_makes_a_new_invoice_manual_visibly_and_audited(self, fake_stripe, stripe_tenant):
        stripe_breaker().open()
        with tenant_context(stripe_tenant.tenant.pk):
            invoice = make_invoice(contact=stripe_tenant.contact)
            assert invoice.payment_mode_snapshot == "manual"
            audit = InvoiceAuditLog.objects.get(invoice=invoice)
            assert (audit.action, audit.payment_mode, audit.metadata) == (
                "created",
                "manual",
                {"payment_mode_fallback": "breaker_open"},
            )
            # The buyer can now pay by hand, with a receipt.
            tenant_services.invoice_send(invoice_id=invoice.pk)
            tenant_services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file())
            assert Invoice.objects.get(pk=invoice.pk).status == "pending_confirmation"
        flag = every_row(InvoicePayment).get()
        assert (
            flag.invoice_kind,
            flag.invoice_id,
            flag.provider,
            flag.fallback_reason,
            flag.owner_tenant_id,
            flag.stripe_payment_intent_id,
        ) == ("tenant", invoice.pk, "manual", "breaker_open", stripe_tenant.tenant.pk, None)
        assert fake_stripe.requests == []
        # Nothing is ever put on Stripe for it.
        assert (
            services.invoice_payment_open(
                invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
            ).pk
            == flag.pk
        )
        assert fake_stripe.requests == []

    def test_a_disabled_account_falls_back_too(self, fake_stripe, stripe_tenant):
        stripe_tenant.account.status, stripe_tenant.account.charges_enabled = "disabled", False
        owner_save(stripe_tenant.account)
        with tenant_context(stripe_tenant.tenant.pk):
            invoice = make_invoice(contact=stripe_tenant.contact)
        assert invoice.payment_mode_snapshot == "manual"
        assert every_row(InvoicePayment).get().fallback_reason == "account_disabled"
        # The tenant's owners are told, in the same transaction (one email for the event).
        from breederhq.models import OutboundEmail

        notice = OutboundEmail.objects.using(TENANT_DB).get(template="stripe_fallback_notice")
        assert notice.to == [stripe_tenant.tenant.owner_user.email]
        assert "could not use Stripe (account disabled)" in notice.text_body

    def test_without_the_tenants_consent_creation_is_refused_and_nothing_is_written(self, fake_stripe, stripe_tenant):
        stripe_tenant.account.allow_manual_fallback = False
        owner_save(stripe_tenant.account)
        stripe_breaker().open()
        with tenant_context(stripe_tenant.tenant.pk):
            with pytest.raises(ValidationFailed) as refused:
                make_invoice(contact=stripe_tenant.contact)
            assert not Invoice.objects.exists()
        assert refused.value.code == "stripe_unavailable"
        assert not every_row(InvoicePayment).exists()

    def test_a_healthy_stripe_keeps_stripe_mode(self, fake_stripe, stripe_tenant):
        with tenant_context(stripe_tenant.tenant.pk):
            invoice = make_invoice(contact=stripe_tenant.contact)
        assert invoice.payment_mode_snapshot == "stripe"
        assert not every_row(InvoicePayment).exists()

    def test_a_marketplace_invoice_falls_back_and_is_flagged_through_the_outbox(self, fake_stripe):
        provider = ProviderFactory(payment_mode="stripe")
        connect_account(provider=provider)
        stripe_breaker().open()
        tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=8_000)
        invoice = marketplace_services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[LineItem("Groom", 8_000)]
        )
        assert invoice.payment_mode_snapshot == "manual"
        assert not every_row(InvoicePayment).exists()  # written by the relay, in the tenant database
        outbox_relay_due()
        outbox_relay_due()  # a second pass changes nothing
        flag = every_row(InvoicePayment).get()
        assert (flag.invoice_kind, flag.invoice_id, flag.provider, flag.fallback_reason) == (
            "marketplace",
            invoice.pk,
            "manual",
            "breaker_open",
        )
