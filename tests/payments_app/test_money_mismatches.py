"""Every money-carrying Stripe event checks its amounts against the invoice and the fee snapshot on
its payment row. A disagreement marks the invoice (tenant or marketplace) and its payment row
`reconciliation_status=mismatch`, visible in admin, instead of moving money in our ledger. All
events go through the signed webhook endpoint."""

import copy
from dataclasses import dataclass

import pytest
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import DATABASE_ALIASES
from breederhq.outbox import outbox_relay_due
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoice
from marketplace_app.services import LineItem
from payments_app import services
from payments_app.models import ConnectMoneyMovement, InvoicePayment
from tenant_app.models import Invoice, User
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import connect_account, deliver_and_process, every_row, sent_tenant_invoice
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

AMOUNT, FEE = 20_000, 1_000  # 5 % platform fee


@dataclass
class Collected:
    kind: str
    invoice_id: int
    tenant_id: int | None
    intent_id: str

    def invoice(self):
        """(status, paid or refunded cents, reconciliation_status) of the invoice, in its database."""
        if self.kind == "tenant":
            with tenant_context(self.tenant_id):
                invoice = Invoice.all_objects.get(pk=self.invoice_id)
                return invoice.status, invoice.refunded_cents, invoice.reconciliation_status
        invoice = MarketplaceInvoice.objects.get(pk=self.invoice_id)
        return invoice.status, invoice.refunded_cents, invoice.reconciliation_status

    def payment(self):
        return (
            every_row(InvoicePayment)
            .values_list("reconciliation_status", "reconciliation_note")
            .get(invoice_kind=self.kind, invoice_id=self.invoice_id)
        )


@pytest.fixture(params=["tenant", "marketplace"])
def collected(request, fake_stripe, stripe_tenant) -> Collected:
    """A sent Stripe-mode invoice of 200.00 (tenant or marketplace) with its payment intent."""
    if request.param == "tenant":
        invoice = sent_tenant_invoice(stripe_tenant, amount=AMOUNT)
        pk, tenant_id = invoice.pk, stripe_tenant.tenant.pk
    else:
        provider = ProviderFactory(payment_mode="stripe")
        connect_account(provider=provider)
        tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=AMOUNT)
        invoice = marketplace_services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[LineItem("Groom", AMOUNT)]
        )
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        outbox_relay_due()
        pk, tenant_id = invoice.pk, None
    row = services.invoice_payment_open(invoice_kind=request.param, invoice_id=pk, tenant_id=tenant_id)
    assert row.application_fee_cents == FEE
    return Collected(request.param, pk, tenant_id, row.stripe_payment_intent_id)


def pay(client, fake_stripe, c: Collected):
    event = stripe_event("payment_intent.succeeded", copy.deepcopy(fake_stripe.succeed_intent(c.intent_id)))
    assert deliver_and_process(client, event).outcome.endswith("paid")


def test_a_paid_amount_that_disagrees_is_a_mismatch_not_a_payment(client, fake_stripe, collected):
    intent = copy.deepcopy(fake_stripe.succeed_intent(collected.intent_id, amount_received=AMOUNT - 1))
    outcome = deliver_and_process(client, stripe_event("payment_intent.succeeded", intent)).outcome
    assert outcome.startswith(f"mismatch: Stripe paid {AMOUNT - 1} USD")
    assert collected.invoice() == ("sent", 0, "mismatch")
    assert collected.payment()[0] == "mismatch"


def test_an_invoice_paid_event_with_another_amount_is_a_mismatch_too(client, fake_stripe, collected):
    intent = fake_stripe.succeed_intent(collected.intent_id)
    stripe_invoice = {
        "id": f"in_for_{intent['id']}",
        "object": "invoice",
        "amount_paid": AMOUNT + 500,
        "currency": "usd",
        "payment_intent": intent["id"],
        "metadata": dict(intent["metadata"]),
    }
    outcome = deliver_and_process(client, stripe_event("invoice.paid", stripe_invoice)).outcome
    assert outcome.startswith(f"mismatch: Stripe paid {AMOUNT + 500} USD")
    assert collected.invoice() == ("sent", 0, "mismatch")


def test_a_payment_whose_fee_disagrees_pays_the_invoice_and_flags_it(client, fake_stripe, collected):
    intent = copy.deepcopy(fake_stripe.succeed_intent(collected.intent_id))
    intent["application_fee_amount"] = FEE + 1
    outcome = deliver_and_process(client, stripe_event("payment_intent.succeeded", intent)).outcome
    assert outcome.endswith(
        f"mismatch: Stripe took an application fee {FEE + 1}, expected {FEE} "
        f"({collected.kind} invoice #{collected.invoice_id})"
    )
    assert collected.invoice() == ("paid", 0, "mismatch")  # the buyer did pay the right amount
    assert collected.payment()[0] == "mismatch"


def test_a_charge_whose_application_fee_disagrees_is_a_mismatch(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    assert collected.invoice()[2] == "synced"
    charge = fake_stripe.succeeded_charge_of(collected.intent_id)
    charge["application_fee_amount"] = FEE - 300
    outcome = deliver_and_process(client, stripe_event("charge.succeeded", charge)).outcome
    assert f"mismatch: charge application fee {FEE - 300}, expected {FEE}" in outcome
    assert collected.invoice() == ("paid", 0, "mismatch")
    status, note = collected.payment()
    assert status == "mismatch" and note.startswith(f"charge application fee {FEE - 300}, expected {FEE}")
    # What Stripe did is still recorded, as Stripe reports it.
    assert every_row(ConnectMoneyMovement).get(kind="application_fee").amount_cents == FEE - 300


def test_a_charge_that_agrees_changes_nothing(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    charge = fake_stripe.succeeded_charge_of(collected.intent_id)
    assert "mismatch" not in deliver_and_process(client, stripe_event("charge.succeeded", charge)).outcome
    deliver_and_process(client, stripe_event("transfer.created", fake_stripe.transfer_of(collected.intent_id)))
    assert (collected.invoice()[2], collected.payment()[0]) == ("synced", "synced")


def test_a_transfer_of_another_amount_is_a_mismatch(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    deliver_and_process(client, stripe_event("charge.succeeded", fake_stripe.succeeded_charge_of(collected.intent_id)))
    assert collected.invoice()[2] == "synced"
    transfer = fake_stripe.transfer_of(collected.intent_id)
    transfer["amount"] = AMOUNT  # the whole amount, as if no fee had been taken
    outcome = deliver_and_process(client, stripe_event("transfer.created", transfer)).outcome
    assert outcome.endswith(
        f"mismatch: transfer {AMOUNT} to the connected account, expected {AMOUNT - FEE} "
        f"({collected.kind} invoice #{collected.invoice_id} minus the fee)"
    )
    assert (collected.invoice()[2], collected.payment()[0]) == ("mismatch", "mismatch")


def test_a_wrong_transfer_seen_before_its_charge_is_flagged_when_the_charge_links_it(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    transfer = fake_stripe.transfer_of(collected.intent_id)
    transfer["amount"] = AMOUNT - FEE - 1
    assert "mismatch" not in deliver_and_process(client, stripe_event("transfer.created", transfer)).outcome
    assert collected.invoice()[2] == "synced"  # unlinked: not known yet whose it is
    outcome = deliver_and_process(
        client, stripe_event("charge.succeeded", fake_stripe.succeeded_charge_of(collected.intent_id))
    ).outcome
    assert f"mismatch: transfer {AMOUNT - FEE - 1} to the connected account" in outcome
    assert (collected.invoice()[2], collected.payment()[0]) == ("mismatch", "mismatch")


@pytest.mark.parametrize("how", ["charge amount", "currency", "more than charged"])
def test_a_refund_of_a_charge_that_disagrees_is_a_mismatch_not_a_refund(client, fake_stripe, collected, how):
    pay(client, fake_stripe, collected)
    charge = fake_stripe.charge_of(collected.intent_id, amount_refunded=5_000)
    if how == "charge amount":
        charge["amount"] = AMOUNT + 1_000
    elif how == "currency":
        charge["currency"] = "eur"
    else:
        charge["amount_refunded"] = AMOUNT + 1
    outcome = deliver_and_process(client, stripe_event("charge.refunded", charge)).outcome
    assert outcome.startswith(f"mismatch: Stripe charge {charge['id']} of ")
    assert outcome.endswith("no refund recorded")
    assert collected.invoice() == ("paid", 0, "mismatch")
    assert collected.payment()[0] == "mismatch"


def test_a_refund_that_agrees_is_recorded(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    charge = fake_stripe.charge_of(collected.intent_id, amount_refunded=5_000)
    assert deliver_and_process(client, stripe_event("charge.refunded", charge)).outcome.startswith("refunded 5000")
    assert collected.invoice() == ("partially_refunded", 5_000, "synced")


def _tenant(tenant_id):
    from tenant_app.models import Tenant

    return Tenant.objects.get(pk=tenant_id)


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser(
        username="sam@breederhq.test", email="sam@breederhq.test", password="pw-123456!"
    )
    return staff_login(client, user)


def test_a_mismatch_is_visible_in_admin_and_staff_can_resolve_it(staff_client, fake_stripe, collected):
    intent = copy.deepcopy(fake_stripe.succeed_intent(collected.intent_id, amount_received=1))
    deliver_and_process(staff_client, stripe_event("payment_intent.succeeded", intent))
    payments = staff_client.get(
        reverse("admin:payments_app_invoicepayment_changelist") + "?reconciliation_status=mismatch"
    )
    assert payments.status_code == 200
    assert collected.intent_id.encode() in payments.content
    if collected.kind == "tenant":  # tenant data in admin: staff say which tenant they work on, and why
        from tests.backoffice.conftest import work_on

        work_on(staff_client, _tenant(collected.tenant_id))
    model = "tenant_app_invoice" if collected.kind == "tenant" else "marketplace_app_marketplaceinvoice"
    url = reverse(f"admin:{model}_changelist")
    listed = staff_client.get(url + "?reconciliation_status=mismatch")
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 1
    action = "resolve_reconciliation" if collected.kind == "tenant" else "resolve_marketplace_reconciliation"
    response = staff_client.post(
        url,
        {
            "action": action,
            "_selected_action": [collected.invoice_id],
            "confirmed": "yes",
            "reason": "buyer paid the rest by bank transfer",
        },
    )
    assert response.status_code == 302
    assert collected.invoice()[2] == "resolved"
    assert StaffActionAudit.objects.filter(action=action).count() == 1
    assert staff_client.get(url + "?reconciliation_status=mismatch").context["cl"].result_count == 0


def application_fee_of(fake_stripe, intent_id, *, amount):
    """The `application_fee` object Stripe sends in `application_fee.created`."""
    charge = fake_stripe.succeeded_charge_of(intent_id)
    return {
        "id": charge["application_fee"],
        "object": "application_fee",
        "amount": amount,
        "amount_refunded": 0,
        "currency": "usd",
        "charge": charge["id"],
        "account": charge["transfer_data"]["destination"],
        "refunded": False,
    }


@pytest.mark.parametrize("fee_event_first", [False, True])
def test_an_application_fee_event_that_disagrees_is_a_mismatch(client, fake_stripe, collected, fee_event_first):
    pay(client, fake_stripe, collected)
    fee = application_fee_of(fake_stripe, collected.intent_id, amount=FEE + 250)
    charge = fake_stripe.succeeded_charge_of(collected.intent_id)
    charge["application_fee_amount"] = FEE + 250  # the same fee, told on the charge too
    if fee_event_first:  # not linked yet: the charge links it and checks it
        assert "mismatch" not in deliver_and_process(client, stripe_event("application_fee.created", fee)).outcome
        assert collected.invoice()[2] == "synced"
        assert (
            "mismatch: charge application fee"
            in deliver_and_process(client, stripe_event("charge.succeeded", charge)).outcome
        )
    else:
        deliver_and_process(
            client, stripe_event("charge.succeeded", fake_stripe.succeeded_charge_of(collected.intent_id))
        )
        assert collected.invoice()[2] == "synced"
        outcome = deliver_and_process(client, stripe_event("application_fee.created", fee)).outcome
        assert outcome.endswith(
            f"mismatch: Stripe took an application fee {FEE + 250}, expected {FEE} "
            f"({collected.kind} invoice #{collected.invoice_id})"
        )
    assert (collected.invoice()[2], collected.payment()[0]) == ("mismatch", "mismatch")
    assert every_row(ConnectMoneyMovement).filter(kind="application_fee").count() == 1


def test_an_application_fee_event_that_agrees_changes_nothing(client, fake_stripe, collected):
    pay(client, fake_stripe, collected)
    deliver_and_process(client, stripe_event("charge.succeeded", fake_stripe.succeeded_charge_of(collected.intent_id)))
    fee = application_fee_of(fake_stripe, collected.intent_id, amount=FEE)
    assert deliver_and_process(client, stripe_event("application_fee.created", fee)).outcome == (
        f"application fee {fee['id']} already recorded (collected)"
    )
    assert (collected.invoice()[2], collected.payment()[0]) == ("synced", "synced")
