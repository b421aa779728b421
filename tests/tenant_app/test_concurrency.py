"""Races proved with threads, each on its own database connection, against committed data."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Invoice, InvoiceAuditLog, Payment, PaymentConfirmationAudit, Tenant
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file
from tests.locks import a_session_waits_for_a_lock

pytestmark = [pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True), pytest.mark.slow]


class Worker(threading.Thread):
    """Runs `fn` on its own connection and keeps its result or exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connections.close_all()

    def finish(self):
        self.join(30)
        assert not self.is_alive(), "thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_a_session_waits_for_a_lock(expected: int = 1) -> None:
    """Until `expected` other sessions are blocked on a row lock (tests/locks.py)."""
    if not a_session_waits_for_a_lock(expected):
        pytest.fail("no session ever waited for the lock")


@pytest.fixture
def tenant_and_contact():
    tenant = TenantFactory(marketplace_payment_mode="manual")
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
    return tenant, contact


def test_invoice_created_during_an_uncommitted_mode_switch_waits_and_snapshots_the_new_mode(tenant_and_contact):
    tenant, contact = tenant_and_contact
    switched, release = threading.Event(), threading.Event()

    def switch_mode():
        with tenant_context(tenant.pk):
            services.tenant_set_payment_mode(mode="stripe")
            switched.set()
            assert release.wait(20)

    def create_invoice():
        with tenant_context(tenant.pk):
            return make_invoice(contact=contact)

    switcher = Worker(switch_mode)
    switcher.start()
    assert switched.wait(20)
    creator = Worker(create_invoice)
    creator.start()
    wait_until_a_session_waits_for_a_lock()
    # Without the lock the creator would already have read the committed 'manual' and finished.
    assert creator.is_alive()
    release.set()
    switcher.finish()
    invoice = creator.finish()
    with tenant_context(tenant.pk):
        invoice.refresh_from_db()
    assert (invoice.payment_mode_snapshot, Tenant.objects.get().marketplace_payment_mode) == ("stripe", "stripe")


def test_mode_switch_waits_for_an_invoice_being_created_which_keeps_the_old_mode(tenant_and_contact):
    tenant, contact = tenant_and_contact
    created, release = threading.Event(), threading.Event()

    def create_invoice():
        with tenant_context(tenant.pk):
            invoice = make_invoice(contact=contact)
            created.set()
            assert release.wait(20)
            return invoice

    def switch_mode():
        with tenant_context(tenant.pk):
            return services.tenant_set_payment_mode(mode="stripe")

    creator = Worker(create_invoice)
    creator.start()
    assert created.wait(20)
    switcher = Worker(switch_mode)
    switcher.start()
    wait_until_a_session_waits_for_a_lock()
    assert switcher.is_alive()
    release.set()
    invoice = creator.finish()
    switcher.finish()
    with tenant_context(tenant.pk):
        invoice.refresh_from_db()
        later = make_invoice(contact=contact)
    assert (invoice.payment_mode_snapshot, later.payment_mode_snapshot) == ("manual", "stripe")


def race(tenant, invoice, *fns):
    """Starts every fn while this test holds the invoice row locked, waits until all of them are
    blocked on the database, then lets them go at once: the overlap is certain, not left to luck."""
    workers = [Worker(fn) for fn in fns]
    with tenant_context(tenant.pk):
        Invoice.objects.select_for_update().get(pk=invoice.pk)
        for worker in workers:
            worker.start()
        wait_until_a_session_waits_for_a_lock(expected=len(workers))
    return [worker.finish() for worker in workers]


@pytest.mark.parametrize("round_", range(5))
def test_webhook_and_manual_confirmation_racing_give_exactly_one_payment(round_):
    tenant = TenantFactory(marketplace_payment_mode="stripe")
    owner = tenant.owner_user
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(25_000,))
        services.invoice_send(invoice_id=invoice.pk)

    def webhook():
        with tenant_context(tenant.pk):
            return services.invoice_mark_paid(
                invoice_id=invoice.pk,
                method="stripe",
                idempotency_key="evt_1",
                external_reference="pi_1",
                actor_label="stripe",
            )

    def staff_confirms_cash():
        with tenant_context(tenant.pk):
            return services.invoice_mark_paid(
                invoice_id=invoice.pk, method="manual", idempotency_key="cash-1", actor=owner
            )

    race(tenant, invoice, webhook, staff_confirms_cash)
    with tenant_context(tenant.pk):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.paid_cents, invoice.version) == ("paid", 25_000, 3)
        assert Payment.objects.filter(invoice=invoice).count() == 1
        assert list(InvoiceAuditLog.objects.filter(invoice=invoice).values_list("old_status", "new_status")) == [
            ("", "draft"),
            ("draft", "sent"),
            ("sent", "paid"),
        ]
        assert PaymentConfirmationAudit.objects.filter(invoice=invoice, event="confirmed").count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_provider_confirmation_racing_a_second_confirmation_gives_one_payment(round_):
    tenant = TenantFactory(marketplace_payment_mode="manual")
    owner = tenant.owner_user
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(8_000,))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file())

    def confirm():
        with tenant_context(tenant.pk):
            return services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner)

    def mark_paid():
        with tenant_context(tenant.pk):
            return services.invoice_mark_paid(
                invoice_id=invoice.pk, method="manual", idempotency_key="bank-9", actor=owner
            )

    race(tenant, invoice, confirm, mark_paid, confirm)
    with tenant_context(tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
        assert (invoice.status, invoice.paid_cents) == ("paid", 8_000)
        assert Payment.objects.filter(invoice=invoice).count() == 1
        assert InvoiceAuditLog.objects.filter(invoice=invoice, new_status="paid").count() == 1
        assert PaymentConfirmationAudit.objects.filter(invoice=invoice, event="confirmed").count() == 1


def test_the_same_payment_recorded_twice_at_once_is_stored_once():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(10_000,))
        services.invoice_send(invoice_id=invoice.pk)

    def record():
        with tenant_context(tenant.pk):
            return services.invoice_record_payment(
                invoice_id=invoice.pk, amount_cents=4_000, method="manual", idempotency_key="same-key"
            ).pk

    first, second = race(tenant, invoice, record, record)
    assert first == second
    with tenant_context(tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).paid_cents == 4_000
        assert Payment.objects.count() == 1
