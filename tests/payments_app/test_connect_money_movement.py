"""Connect money movement: the platform's application fee, the transfer to the connected account and
its payouts, recorded from Stripe's events once each, in whatever order they arrive."""

import pytest
from django.urls import reverse

from breederhq.databases import DATABASE_ALIASES
from payments_app import services
from payments_app.models import ConnectMoneyMovement, InvoicePayment
from tenant_app.models import User
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import deliver_and_process, every_row, sent_tenant_invoice
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def paid_intent(client, fake_stripe, stripe_tenant):
    invoice = sent_tenant_invoice(stripe_tenant, amount=25_000)
    intent_id = services.invoice_payment_open(
        invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=stripe_tenant.tenant.pk
    ).stripe_payment_intent_id
    deliver_and_process(client, stripe_event("payment_intent.succeeded", fake_stripe.succeed_intent(intent_id)))
    return intent_id


def movements():
    return list(
        every_row(ConnectMoneyMovement)
        .order_by("kind", "stripe_object_id")
        .values_list(
            "kind", "amount_cents", "currency", "status", "connect_account_id", "invoice_payment_id", "source_charge_id"
        )
    )


def test_a_paid_invoice_records_the_fee_and_the_transfer_once(client, fake_stripe, stripe_tenant, paid_intent):
    charge = fake_stripe.succeeded_charge_of(paid_intent)
    payment = every_row(InvoicePayment).get()
    event = stripe_event("charge.succeeded", charge)
    outcome = deliver_and_process(client, event).outcome
    assert outcome == f"charge {charge['id']}: fee 1250; transfer 23750 to acct_t{stripe_tenant.tenant.pk}"
    expected = [
        ("application_fee", 1_250, "USD", "collected", f"acct_t{stripe_tenant.tenant.pk}", payment.pk, charge["id"]),
        # The buyer's payment is in the connected account's ledger too (payments_app/ledger.py).
        ("payment", 25_000, "USD", "succeeded", f"acct_t{stripe_tenant.tenant.pk}", payment.pk, charge["id"]),
        ("transfer", 23_750, "USD", "created", f"acct_t{stripe_tenant.tenant.pk}", payment.pk, charge["id"]),
    ]
    assert movements() == expected
    # Stripe redelivers the same event, then sends the same charge in a new event: nothing doubles.
    deliver_and_process(client, event)
    again = deliver_and_process(client, stripe_event("charge.succeeded", charge)).outcome
    assert again == f"charge {charge['id']}: fee already recorded; transfer already recorded"
    deliver_and_process(client, stripe_event("transfer.created", fake_stripe.transfer_of(paid_intent)))
    assert movements() == expected


def test_a_transfer_seen_before_its_charge_is_linked_when_the_charge_arrives(
    client, fake_stripe, stripe_tenant, paid_intent
):
    transfer = fake_stripe.transfer_of(paid_intent)
    outcome = deliver_and_process(client, stripe_event("transfer.created", transfer)).outcome
    assert outcome == f"transfer {transfer['id']} recorded (created)"
    assert every_row(ConnectMoneyMovement).get().invoice_payment_id is None
    deliver_and_process(client, stripe_event("charge.succeeded", fake_stripe.succeeded_charge_of(paid_intent)))
    row = every_row(ConnectMoneyMovement).get(stripe_object_id=transfer["id"])
    assert (row.invoice_payment_id, row.amount_cents, row.source_charge_id) == (
        every_row(InvoicePayment).get().pk,
        23_750,
        transfer["source_transaction"],
    )
    assert every_row(ConnectMoneyMovement).count() == 3  # the fee, the transfer and the buyer's payment


def test_a_reversal_is_recorded_and_an_older_created_does_not_undo_it(client, fake_stripe, paid_intent):
    created = stripe_event("transfer.created", fake_stripe.transfer_of(paid_intent), created=1_700_000_000)
    reversed_ = stripe_event(
        "transfer.reversed", fake_stripe.transfer_of(paid_intent, reversed=True), created=1_700_000_100
    )
    deliver_and_process(client, reversed_)
    deliver_and_process(client, created)
    assert every_row(ConnectMoneyMovement).values_list("status", flat=True).get() == "reversed"


def test_payouts_of_a_connected_account_are_recorded_and_others_ignored(client, fake_stripe, stripe_tenant):
    account = stripe_tenant.account.stripe_account_id
    payout = fake_stripe.payout(amount=23_750, payout_id="po_1")
    assert deliver_and_process(client, stripe_event("payout.paid", payout, account=account)).outcome == (
        f"payout po_1 of {account} recorded (paid)"
    )
    assert deliver_and_process(client, stripe_event("payout.paid", payout, account=account)).outcome == (
        f"payout po_1 of {account} already recorded (paid)"
    )
    stranger = stripe_event("payout.paid", fake_stripe.payout(amount=5, payout_id="po_2"), account="acct_unknown")
    assert (
        deliver_and_process(client, stranger).outcome == "ignored: payout of an account that is not ours (acct_unknown)"
    )
    assert movements() == [("payout", 23_750, "USD", "paid", account, None, "")]


def test_a_charge_of_someone_elses_payment_records_nothing(client, fake_stripe, paid_intent):
    charge = {**fake_stripe.succeeded_charge_of(paid_intent), "payment_intent": "pi_elsewhere", "metadata": {}}
    assert deliver_and_process(client, stripe_event("charge.succeeded", charge)).outcome == (
        "ignored: charge of a payment that is not ours"
    )
    assert movements() == []


def test_movements_are_visible_in_admin(client, fake_stripe, paid_intent):
    staff = client
    charge = fake_stripe.succeeded_charge_of(paid_intent)
    deliver_and_process(client, stripe_event("charge.succeeded", charge))
    user = User.objects.create_superuser(
        username="sam@breederhq.test", email="sam@breederhq.test", password="pw-123456!"
    )
    staff_login(staff, user)
    listing = staff.get(reverse("admin:payments_app_connectmoneymovement_changelist") + "?kind=transfer")
    assert listing.status_code == 200
    assert charge["transfer"].encode() in listing.content and charge["application_fee"].encode() not in listing.content
    page = staff.get(reverse("admin:payments_app_invoicepayment_change", args=[every_row(InvoicePayment).get().pk]))
    assert page.status_code == 200
    assert charge["transfer"].encode() in page.content and charge["application_fee"].encode() in page.content
