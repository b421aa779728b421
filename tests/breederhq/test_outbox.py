"""The outbox: written in the caller's transaction, applied once in the other database, retried
with backoff, visible as stuck after the last attempt, never applied by two relays at once."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.models import AppliedMessage, OutboxMessage
from breederhq.outbox import (
    RelayOutcome,
    outbox_enqueue,
    outbox_handler,
    outbox_message_requeue,
    outbox_relay_due,
    outbox_relay_message,
    outbox_step,
    retry_delay,
)
from tests.crossdb_app import services
from tests.crossdb_app.factories import InvoiceFactory, TransactionFactory
from tests.crossdb_app.faults import InjectedCrash
from tests.crossdb_app.marketplace_side.models import Effect as MarketplaceEffect
from tests.crossdb_app.marketplace_side.models import Transaction

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)


def paid_invoice_with_transaction():
    invoice = InvoiceFactory()
    txn = TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)
    services.invoice_mark_paid(invoice_id=invoice.pk)
    message = OutboxMessage.objects.using(TENANT_DB).get()
    return invoice, txn, message


def effects():
    return list(MarketplaceEffect.objects.using(MARKETPLACE_DB).values_list("kind", "object_id"))


def test_enqueue_writes_the_message_in_the_callers_transaction():
    invoice, txn, message = paid_invoice_with_transaction()
    assert (message.topic, message.payload, message.target_db, message.status, message.attempts) == (
        services.INVOICE_PAID,
        {"invoice_id": invoice.pk},
        MARKETPLACE_DB,
        "pending",
        0,
    )
    assert not OutboxMessage.objects.using(MARKETPLACE_DB).exists()

    other = InvoiceFactory()
    with pytest.raises(RuntimeError), transaction.atomic(using=TENANT_DB):
        services.invoice_mark_paid(invoice_id=other.pk)
        raise RuntimeError("the caller fails after the service")
    # Rolled back together: the invoice is unpaid and there is no second message.
    assert other.__class__.objects.get(pk=other.pk).status == "sent"
    assert OutboxMessage.objects.using(TENANT_DB).count() == 1


def test_enqueue_is_refused_outside_a_transaction_for_an_unknown_topic_and_for_a_same_database_topic():
    with pytest.raises(transaction.TransactionManagementError, match="must run inside"):
        outbox_enqueue(using=TENANT_DB, topic=services.INVOICE_PAID, payload={})
    with transaction.atomic(using=TENANT_DB):
        with pytest.raises(ImproperlyConfigured, match="no outbox handler"):
            outbox_enqueue(using=TENANT_DB, topic="nobody.listens", payload={})
        with pytest.raises(ImproperlyConfigured, match="in the same transaction instead"):
            outbox_enqueue(using=TENANT_DB, topic=services.TRANSACTION_CANCELLED, payload={})
    assert not OutboxMessage.objects.using(TENANT_DB).exists()


def test_a_second_handler_for_a_topic_is_refused():
    with pytest.raises(ImproperlyConfigured, match="already has a handler"):

        @outbox_handler(services.INVOICE_PAID, applies_in=MARKETPLACE_DB)
        def another(payload):
            pass

    with pytest.raises(ImproperlyConfigured, match="unknown database"):
        outbox_handler("x.y", applies_in="elsewhere")


def test_the_relay_applies_the_effect_and_records_the_message_id_in_the_target_database():
    invoice, txn, message = paid_invoice_with_transaction()
    assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk) == RelayOutcome.APPLIED
    assert Transaction.objects.get(pk=txn.pk).status == "paid"
    assert effects() == [("invoice_paid", invoice.pk)]
    applied = AppliedMessage.objects.using(MARKETPLACE_DB).get()
    assert (applied.message_id, applied.source_db, applied.topic) == (
        message.message_id,
        TENANT_DB,
        services.INVOICE_PAID,
    )
    assert not AppliedMessage.objects.using(TENANT_DB).exists()
    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at, message.applied_at is not None) == (
        "applied",
        0,
        None,
        True,
    )


def test_applying_a_message_twice_has_one_effect():
    invoice, txn, message = paid_invoice_with_transaction()
    outbox_relay_message(source=TENANT_DB, message_pk=message.pk)
    assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk) == RelayOutcome.SKIPPED
    # The source lost its "applied" mark (as if the process died after the target committed):
    # the relay sees the id in the target database and only marks it.
    OutboxMessage.objects.using(TENANT_DB).filter(pk=message.pk).update(status="pending", applied_at=None)
    assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk) == RelayOutcome.ALREADY_APPLIED
    assert effects() == [("invoice_paid", invoice.pk)]
    assert AppliedMessage.objects.using(MARKETPLACE_DB).count() == 1
    assert OutboxMessage.objects.using(TENANT_DB).get().status == "applied"


def test_a_failing_message_is_retried_with_exponential_backoff_then_left_visible_as_stuck(faults, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    invoice, txn, message = paid_invoice_with_transaction()
    faults.inject("relay.before_effect", times=3)
    now = timezone.now()
    assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk, now=now) == RelayOutcome.RETRY
    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at, message.last_attempt_at) == (
        "pending",
        1,
        now + timedelta(seconds=30),
        now,
    )
    assert message.last_error.startswith("InjectedFault: injected at relay.before_effect")

    # Not due yet: the sweep leaves it alone.
    assert outbox_relay_due(now=now + timedelta(seconds=29)) == {}
    assert outbox_relay_due(now=now + timedelta(seconds=30)) == {RelayOutcome.RETRY: 1}
    message.refresh_from_db()
    assert (message.attempts, message.next_attempt_at) == (2, now + timedelta(seconds=30 + 60))
    assert outbox_relay_due(now=now + timedelta(seconds=90)) == {RelayOutcome.STUCK: 1}
    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at) == ("stuck", 3, None)
    assert "relay.before_effect" in message.last_error
    # Nothing happened in the target, and the sweep never picks a stuck message again.
    assert Transaction.objects.get(pk=txn.pk).status == "pending"
    assert effects() == [] and not AppliedMessage.objects.using(MARKETPLACE_DB).exists()
    assert outbox_relay_due(now=now + timedelta(days=30)) == {}

    requeued = outbox_message_requeue(using=TENANT_DB, message_id=message.message_id)
    assert (requeued.status, requeued.attempts) == ("pending", 0)
    assert outbox_relay_due() == {RelayOutcome.APPLIED: 1}
    assert effects() == [("invoice_paid", invoice.pk)]


def test_backoff_doubles_and_is_capped(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 10
    settings.OUTBOX_RETRY_MAX_SECONDS = 100
    assert [retry_delay(n).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_a_handler_error_rolls_its_partial_effect_back(faults):
    invoice, txn, message = paid_invoice_with_transaction()
    faults.inject("relay.after_effect")  # the handler ran; the message id is not recorded yet
    assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk) == RelayOutcome.RETRY
    assert Transaction.objects.get(pk=txn.pk).status == "pending"
    assert effects() == []


@pytest.mark.slow
def test_two_relays_never_apply_one_message_at_the_same_time():
    invoice, txn, message = paid_invoice_with_transaction()
    inside, release = threading.Event(), threading.Event()
    first = threading.current_thread()

    def hold(sender, step, message, **kwargs):
        if step == "relay.before_effect" and threading.current_thread() is not first:
            inside.set()
            assert release.wait(20)

    outbox_step.connect(hold, dispatch_uid="test-hold")
    outcomes = []

    def relay():
        try:
            outcomes.append(outbox_relay_message(source=TENANT_DB, message_pk=message.pk))
        finally:
            for alias in DATABASE_ALIASES:
                connections[alias].close()

    try:
        holder = threading.Thread(target=relay)
        holder.start()
        assert inside.wait(20)
        # The first relay holds the row lock mid-effect: a second relay skips instead of waiting.
        assert outbox_relay_message(source=TENANT_DB, message_pk=message.pk) == RelayOutcome.SKIPPED
        assert outbox_relay_due() == {RelayOutcome.SKIPPED: 1}
        release.set()
        holder.join(20)
    finally:
        release.set()
        outbox_step.disconnect(dispatch_uid="test-hold")
    assert outcomes == [RelayOutcome.APPLIED]
    assert effects() == [("invoice_paid", invoice.pk)]


@pytest.mark.slow
def test_concurrent_sweeps_apply_each_message_exactly_once():
    invoices = [InvoiceFactory() for _ in range(12)]
    for invoice in invoices:
        TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)
        services.invoice_mark_paid(invoice_id=invoice.pk)
    totals, errors = [], []

    def sweep():
        try:
            totals.append(outbox_relay_due())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            for alias in DATABASE_ALIASES:
                connections[alias].close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(t.get(RelayOutcome.APPLIED, 0) for t in totals) == 12
    assert sorted(effects()) == sorted(("invoice_paid", i.pk) for i in invoices)
    assert set(Transaction.objects.values_list("status", flat=True)) == {"paid"}
    assert AppliedMessage.objects.using(MARKETPLACE_DB).count() == 12


def test_the_relay_task_is_handed_over_when_the_source_database_commits_not_the_default_one():
    txn = TransactionFactory(invoice_type="tenant", invoice_id=InvoiceFactory().pk)
    with transaction.atomic(using=TENANT_DB), transaction.atomic(using=MARKETPLACE_DB):
        services.transaction_cancel(transaction_id=txn.pk)
        assert len(connections[MARKETPLACE_DB].run_on_commit) == 1
        assert connections[TENANT_DB].run_on_commit == []


def test_purge_drops_old_applied_messages_but_keeps_an_id_whose_source_is_not_marked_applied(faults):
    from breederhq.outbox import outbox_purge

    old_invoice, recent_invoice, half_done_invoice = InvoiceFactory(), InvoiceFactory(), InvoiceFactory()
    for invoice in (old_invoice, recent_invoice):
        services.invoice_mark_paid(invoice_id=invoice.pk)
    relay_now = timezone.now()
    outbox_relay_due(now=relay_now)
    services.invoice_mark_paid(invoice_id=half_done_invoice.pk)
    faults.inject("relay.after_target_commit", crash=True)
    with pytest.raises(InjectedCrash):
        outbox_relay_due()
    by_invoice = {m.payload["invoice_id"]: m for m in OutboxMessage.objects.using(TENANT_DB)}
    forty_days_ago = timezone.now() - timedelta(days=40)
    OutboxMessage.objects.using(TENANT_DB).filter(pk=by_invoice[old_invoice.pk].pk).update(applied_at=forty_days_ago)
    AppliedMessage.objects.using(MARKETPLACE_DB).exclude(message_id=by_invoice[recent_invoice.pk].message_id).update(
        applied_at=forty_days_ago
    )

    assert outbox_purge() == {
        "default:outbox_applied_messages": 0,
        "marketplace:outbox_applied_messages": 1,
        "default:outbox_messages": 1,
        "marketplace:outbox_messages": 0,
    }
    assert sorted(AppliedMessage.objects.using(MARKETPLACE_DB).values_list("message_id", flat=True)) == sorted(
        [by_invoice[recent_invoice.pk].message_id, by_invoice[half_done_invoice.pk].message_id]
    )
    # The half-done message still finds its id and is not applied twice.
    assert outbox_relay_due() == {RelayOutcome.ALREADY_APPLIED: 1}
    assert sorted(effects()) == sorted(("invoice_paid", i.pk) for i in (old_invoice, recent_invoice, half_done_invoice))
