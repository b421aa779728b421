"""Reconciliation with Stripe, page by page through the SDK: each kind of disagreement found,
recorded on the payment and in a report support staff read in admin."""

import pytest
from django.core.management import call_command

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.tenancy import tenant_context
from payments_app import services
from payments_app.models import InvoicePayment, ReconciliationRun
from payments_app.reconciliation import stripe_reconcile
from payments_app.tasks import reconcile_stripe
from tenant_app.models import Invoice
from tests.fakes.stripe_server import new_id, stripe_event
from tests.payments_app.conftest import deliver_and_process, every_row, sent_tenant_invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def landscape(client, fake_stripe, stripe_tenant):
    """Five Stripe-mode invoices, one of each situation (plus a foreign intent that is not ours)."""
    tenant_id = stripe_tenant.tenant.pk

    def opened(amount):
        invoice = sent_tenant_invoice(stripe_tenant, amount=amount)
        row = services.invoice_payment_open(invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=tenant_id)
        return invoice, row.stripe_payment_intent_id

    paid, paid_intent = opened(10_000)
    deliver_and_process(client, stripe_event("payment_intent.succeeded", fake_stripe.succeed_intent(paid_intent)))
    open_, _ = opened(11_000)  # nobody paid yet: agrees
    unrecorded, unrecorded_intent = opened(12_000)
    fake_stripe.succeed_intent(unrecorded_intent)  # paid in Stripe, the webhook never came
    lost, lost_intent = opened(13_000)
    del fake_stripe.objects["payment_intents"][lost_intent]  # Stripe does not know it
    stray = {
        "id": new_id("pi"),
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 14_000,
        "amount_received": 14_000,
        "currency": "usd",
        "created": 0,
        "metadata": {
            "breederhq_invoice_kind": "tenant",
            "breederhq_invoice_id": "999999",
            "breederhq_tenant_id": str(tenant_id),
        },
    }
    fake_stripe.objects["payment_intents"][stray["id"]] = stray
    foreign = {
        "id": new_id("pi"),
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 1,
        "currency": "usd",
        "created": 0,
        "metadata": {},
    }
    fake_stripe.objects["payment_intents"][foreign["id"]] = foreign
    return {
        "tenant": stripe_tenant.tenant,
        "paid": paid,
        "open": open_,
        "unrecorded": unrecorded,
        "lost": lost,
        "stray": stray["id"],
        "lost_intent": lost_intent,
        "unrecorded_intent": unrecorded_intent,
    }


def statuses():
    return dict(every_row(InvoicePayment).values_list("invoice_id", "reconciliation_status"))


def test_each_kind_of_disagreement_is_found_and_reported(fake_stripe, landscape):
    run = stripe_reconcile(trigger="command", page_size=2)
    # 5 intents in Stripe, two per page: three GETs, each through the SDK with `starting_after`.
    pages = fake_stripe.requests_to("GET", "/v1/payment_intents")
    assert len(pages) == 3
    assert [p["params"].get("starting_after") is None for p in pages] == [True, False, False]
    assert (
        run.remote_objects,
        run.local_payments,
        run.synced,
        run.mismatch,
        run.missing_remote,
        run.missing_local,
        run.error,
    ) == (5, 4, 2, 1, 1, 1, "")
    assert statuses() == {
        landscape["paid"].pk: "synced",
        landscape["open"].pk: "synced",
        landscape["unrecorded"].pk: "mismatch",
        landscape["lost"].pk: "missing_remote",
    }
    items = list(run.items.order_by("status").values_list("status", "invoice_id", "stripe_object_id", "detail"))
    assert items == [
        (
            "mismatch",
            landscape["unrecorded"].pk,
            landscape["unrecorded_intent"],
            "Stripe says succeeded, invoice is sent",
        ),
        (
            "missing_local",
            999999,
            landscape["stray"],
            f"Stripe has payment intent {landscape['stray']} (succeeded) we have no record of",
        ),
        (
            "missing_remote",
            landscape["lost"].pk,
            landscape["lost_intent"],
            f"payment intent {landscape['lost_intent']} not in Stripe",
        ),
    ]
    # The invoice itself says so too, for the people who look at invoices.
    with tenant_context(landscape["tenant"].pk):
        assert dict(Invoice.objects.values_list("pk", "reconciliation_status")) == {
            landscape["paid"].pk: "synced",
            landscape["open"].pk: "synced",
            landscape["unrecorded"].pk: "mismatch",
            landscape["lost"].pk: "missing_remote",
        }


def test_an_amount_difference_is_a_mismatch(fake_stripe, landscape):
    intent = fake_stripe.objects["payment_intents"][
        every_row(InvoicePayment).get(invoice_id=landscape["open"].pk).stripe_payment_intent_id
    ]
    intent["amount"] = 10_999
    stripe_reconcile()
    payment = every_row(InvoicePayment).get(invoice_id=landscape["open"].pk)
    assert (payment.reconciliation_status, payment.reconciliation_note) == (
        "mismatch",
        "Stripe 10999 USD, invoice 11000 USD",
    )


def test_running_again_after_the_fix_is_synced_and_listing_is_read_only(fake_stripe, landscape):
    stripe_reconcile()
    posts = len(fake_stripe.requests_to("POST", "/"))
    fake_stripe.objects["payment_intents"][landscape["unrecorded_intent"]]["status"] = "requires_payment_method"
    run = stripe_reconcile()
    assert every_row(InvoicePayment).get(invoice_id=landscape["unrecorded"].pk).reconciliation_status == "synced"
    assert (run.mismatch, run.missing_remote, run.missing_local) == (0, 1, 1)
    assert len(fake_stripe.requests_to("POST", "/")) == posts  # reconciliation never writes to Stripe


def test_the_command_prints_the_report_and_exits_1_on_disagreement(fake_stripe, landscape, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile_stripe", "--page-size", "50")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "synced=2 mismatch=1 missing_remote=1 missing_local=1" in out
    assert f"missing_remote: payment intent {landscape['lost_intent']} not in Stripe" in out


def test_the_nightly_job_records_a_run(fake_stripe, landscape):
    result = reconcile_stripe()
    run = ReconciliationRun.objects.get()
    assert result == {"run": run.pk, "synced": 2, "mismatch": 1, "missing_remote": 1, "missing_local": 1}
    assert run.trigger == "beat"


def test_stripe_down_records_a_failed_run_and_changes_nothing(fake_stripe, landscape):
    from payments_app.stripe_gateway import StripeUnavailable

    fake_stripe.fail_next(1, status=500)
    with pytest.raises(StripeUnavailable):
        stripe_reconcile()
    run = ReconciliationRun.objects.get()
    assert run.error.startswith("StripeUnavailable: Stripe is unavailable: payment_intent.list failed")
    assert set(statuses().values()) == {"synced"}
    assert not run.items.exists()


# --- Every state, on both invoice kinds -----------------------------------------------------------


def _tenant_invoice_factory(stripe_tenant):
    def make(amount):
        invoice = sent_tenant_invoice(stripe_tenant, amount=amount)
        return invoice.pk, stripe_tenant.tenant.pk

    def state(pk):
        with tenant_context(stripe_tenant.tenant.pk):
            return Invoice.all_objects.values_list("reconciliation_status", flat=True).get(pk=pk)

    return make, state


def _marketplace_invoice_factory():
    from marketplace_app import services as marketplace_services
    from marketplace_app.models import MarketplaceInvoice
    from marketplace_app.services import LineItem
    from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
    from tests.payments_app.conftest import connect_account

    provider = ProviderFactory(payment_mode="stripe")
    connect_account(provider=provider)
    buyer = MarketplaceUserFactory()

    def make(amount):
        tx = make_transaction(provider, buyer, amount_cents=amount)
        invoice = marketplace_services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[LineItem("Groom", amount)]
        )
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        from breederhq.outbox import outbox_relay_due

        outbox_relay_due()  # the "unopened" payment row is written through the outbox
        return invoice.pk, None

    def state(pk):
        return MarketplaceInvoice.objects.values_list("reconciliation_status", flat=True).get(pk=pk)

    return make, state


@pytest.mark.parametrize("kind", ["tenant", "marketplace"])
def test_each_state_is_set_on_both_invoice_kinds_and_on_their_payment_rows(fake_stripe, stripe_tenant, kind):
    make, state = _tenant_invoice_factory(stripe_tenant) if kind == "tenant" else _marketplace_invoice_factory()

    def opened(amount):
        pk, tenant_id = make(amount)
        return pk, services.invoice_payment_open(invoice_kind=kind, invoice_id=pk, tenant_id=tenant_id)

    agrees, _ = opened(10_000)
    wrong_amount, row = opened(11_000)
    fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]["amount"] = 10_500
    lost, row = opened(12_000)
    del fake_stripe.objects["payment_intents"][row.stripe_payment_intent_id]
    # An intent Stripe created for one of our invoices whose id never reached us (the worker died
    # between Stripe's answer and our save; the row is still "unopened").
    unrecorded, tenant_id = make(13_000)
    stray = {
        "id": new_id("pi"),
        "object": "payment_intent",
        "status": "requires_payment_method",
        "amount": 13_000,
        "currency": "usd",
        "created": 0,
        "metadata": {
            "breederhq_invoice_kind": kind,
            "breederhq_invoice_id": str(unrecorded),
            **({"breederhq_tenant_id": str(tenant_id)} if tenant_id else {}),
        },
    }
    fake_stripe.objects["payment_intents"][stray["id"]] = stray

    run = stripe_reconcile()

    assert (run.synced, run.mismatch, run.missing_remote, run.missing_local) == (1, 1, 1, 1)
    assert {pk: state(pk) for pk in (agrees, wrong_amount, lost, unrecorded)} == {
        agrees: "synced",
        wrong_amount: "mismatch",
        lost: "missing_remote",
        unrecorded: "missing_local",
    }
    rows = dict(every_row(InvoicePayment).filter(invoice_kind=kind).values_list("invoice_id", "reconciliation_status"))
    assert rows == {agrees: "synced", wrong_amount: "mismatch", lost: "missing_remote", unrecorded: "synced"}

    # Fixed in Stripe: the next run says synced again, on the invoice too.
    fake_stripe.objects["payment_intents"][
        every_row(InvoicePayment).get(invoice_kind=kind, invoice_id=wrong_amount).stripe_payment_intent_id
    ]["amount"] = 11_000
    stripe_reconcile()
    assert state(wrong_amount) == "synced"


def test_an_invoice_staff_resolved_stays_resolved_while_it_still_disagrees(fake_stripe, landscape):
    from tenant_app import services as tenant_services

    stripe_reconcile()
    with tenant_context(landscape["tenant"].pk):
        tenant_services.invoice_set_reconciliation_status(
            invoice_id=landscape["lost"].pk, status="resolved", note="intent deleted on purpose"
        )
    stripe_reconcile()
    with tenant_context(landscape["tenant"].pk):
        assert Invoice.objects.get(pk=landscape["lost"].pk).reconciliation_status == "resolved"
    assert every_row(InvoicePayment).get(invoice_id=landscape["lost"].pk).reconciliation_status == "missing_remote"


def test_every_table_takes_exactly_the_one_set_of_states(fake_stripe, stripe_tenant):
    """The same values everywhere, and the database refuses any other (the shared CHECK)."""
    from django.db import IntegrityError, transaction

    from breederhq.reconciliation import ReconciliationStatus
    from marketplace_app.models import MarketplaceInvoice
    from payments_app.models import ReconciliationItem, ReconciliationState
    from tenant_app.models import ReconciliationStatus as TenantStatus

    expected = ["pending", "synced", "mismatch", "missing_remote", "missing_local", "resolved"]
    assert ReconciliationStatus.values == expected
    assert TenantStatus is ReconciliationStatus and ReconciliationState is ReconciliationStatus
    assert MarketplaceInvoice.ReconciliationStatus is ReconciliationStatus
    for model, field in (
        (Invoice, "reconciliation_status"),
        (MarketplaceInvoice, "reconciliation_status"),
        (InvoicePayment, "reconciliation_status"),
        (ReconciliationItem, "status"),
    ):
        assert model._meta.get_field(field).choices == ReconciliationStatus.choices

    invoice = sent_tenant_invoice(stripe_tenant)
    run = ReconciliationRun.objects.create(trigger="command")
    ReconciliationItem.objects.create(run=run, status="missing_local", detail="x")
    with tenant_context(stripe_tenant.tenant.pk):
        for state in expected:  # every value is accepted...
            Invoice.all_objects.filter(pk=invoice.pk).update(reconciliation_status=state)
    tables = [
        lambda: Invoice.all_objects.filter(pk=invoice.pk).update(reconciliation_status="unknown"),
        lambda: every_row(InvoicePayment).update(reconciliation_status="unknown"),
        lambda: ReconciliationItem.objects.update(status="unknown"),
    ]
    for write in tables:  # ...and anything else refused by PostgreSQL
        with pytest.raises(IntegrityError), transaction.atomic(), tenant_context(stripe_tenant.tenant.pk):
            write()
    from marketplace_app import services as marketplace_services
    from marketplace_app.services import LineItem
    from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction

    provider = ProviderFactory(payment_mode="manual")
    tx = make_transaction(provider, MarketplaceUserFactory(), amount_cents=5_000)
    marketplace_services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("Walk", 5_000)])
    MarketplaceInvoice.objects.update(reconciliation_status="missing_remote")
    with pytest.raises(IntegrityError), transaction.atomic(using=MARKETPLACE_DB):
        MarketplaceInvoice.objects.update(reconciliation_status="unknown")
