"""One lifecycle for both invoice kinds: the same steps, run through each kind's services, give the
same statuses, the same audit trail and the same payment-confirmation rows; a Hypothesis state
machine runs random action sequences over each kind and checks the shared invariants."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import DomainError
from breederhq.invoicing.status import INVOICE_TRANSITIONS
from breederhq.tenancy import tenant_context
from marketplace_app import services as mservices
from marketplace_app.invoicing import MARKETPLACE_INVOICES
from tenant_app import services as tservices
from tenant_app.invoicing import TENANT_INVOICES
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


class TenantDriver:
    kind = TENANT_INVOICES

    def __init__(self):
        tenant = TenantFactory(marketplace_payment_mode="manual")
        self.owner = tenant.owner_user
        self._context = tenant_context(tenant.pk)
        self._context.__enter__()
        self.contact = ContactFactory(tenant=tenant)
        self.keys = itertools.count()

    def close(self):
        self._context.__exit__(None, None, None)

    def create(self, amount):
        return make_invoice(contact=self.contact, amounts=(amount,), actor=self.owner).pk

    def send(self, pk):
        tservices.invoice_send(invoice_id=pk, actor=self.owner)

    def claim(self, pk):
        tservices.invoice_buyer_mark_paid(invoice_id=pk, receipt=receipt_file())

    def confirm(self, pk):
        tservices.invoice_confirm_payment(invoice_id=pk, actor=self.owner)

    def reject(self, pk):
        tservices.invoice_reject_payment(invoice_id=pk, actor=self.owner, reason="no")

    def void(self, pk):
        tservices.invoice_void(invoice_id=pk, actor=self.owner)

    def refund(self, pk, amount):
        tservices.invoice_refund(
            invoice_id=pk, amount_cents=amount, reason="r", idempotency_key=f"r{next(self.keys)}", actor=self.owner
        )

    def expire(self):
        tservices.invoice_expire_pending_confirmations(now=timezone.now() + timedelta(days=8))


class MarketplaceDriver:
    kind = MARKETPLACE_INVOICES

    def __init__(self):
        self.provider = ProviderFactory()
        self.buyer = MarketplaceUserFactory()

    def close(self):
        pass

    def _version(self, pk):
        return self.kind.queryset().get(pk=pk).version

    def create(self, amount):
        tx = make_transaction(self.provider, self.buyer, amount_cents=amount)
        return mservices.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[mservices.LineItem("A", amount)], actor_id=self.provider.user_id
        ).pk

    def send(self, pk):
        mservices.marketplace_invoice_send(
            invoice_id=pk, expected_version=self._version(pk), actor_id=self.provider.user_id
        )

    def claim(self, pk):
        mservices.marketplace_invoice_buyer_mark_paid(
            invoice_id=pk, buyer_id=self.buyer.pk, expected_version=self._version(pk), receipt=receipt_file()
        )

    def confirm(self, pk):
        mservices.marketplace_invoice_mark_paid(invoice_id=pk, source="manual", actor_id=self.provider.user_id)

    def reject(self, pk):
        mservices.marketplace_invoice_reject_payment_claim(
            invoice_id=pk, expected_version=None, actor_id=self.provider.user_id, reason="no"
        )

    def void(self, pk):
        mservices.marketplace_invoice_void(
            invoice_id=pk, expected_version=self._version(pk), actor_id=self.provider.user_id
        )

    def refund(self, pk, amount):
        mservices.marketplace_invoice_refund(invoice_id=pk, amount_cents=amount, actor_id=self.provider.user_id)

    def expire(self):
        mservices.marketplace_invoice_expire_pending_confirmations(now=timezone.now() + timedelta(days=8))


DRIVERS = [pytest.param(TenantDriver, id="tenant"), pytest.param(MarketplaceDriver, id="marketplace")]


def _trail(kind, pk):
    return list(
        kind.audit_model.objects.using(kind.using)
        .filter(invoice_id=pk)
        .order_by("id")
        .values_list("action", "old_status", "new_status")
    )


def _confirmations(kind, pk):
    return list(
        kind.confirmation_model.objects.using(kind.using)
        .filter(invoice_id=pk)
        .order_by("id")
        .values_list("event", flat=True)
    )


def _trails_and_confirmations(kind) -> tuple[dict, dict]:
    """`_trail` and `_confirmations` of every invoice of `kind` at once, by invoice id."""
    trails, confirmations = defaultdict(list), defaultdict(list)
    audit = kind.audit_model.objects.using(kind.using).order_by("id")
    for pk, *row in audit.values_list("invoice_id", "action", "old_status", "new_status"):
        trails[pk].append(tuple(row))
    events = kind.confirmation_model.objects.using(kind.using).order_by("id")
    for pk, event in events.values_list("invoice_id", "event"):
        confirmations[pk].append(event)
    return trails, confirmations


@pytest.mark.parametrize("driver_class", DRIVERS)
def test_the_same_lifecycle_gives_the_same_trail_for_both_kinds(driver_class):
    driver = driver_class()
    try:
        pk = driver.create(6000)
        driver.send(pk)
        driver.claim(pk)
        with pytest.raises(DomainError) as refused:
            driver.send(pk)  # pending_confirmation -> sent is a rejection or an expiry, never a second send
        assert refused.value.code == "illegal_transition"
        driver.reject(pk)
        driver.claim(pk)
        driver.confirm(pk)
        driver.refund(pk, 1500)
        driver.refund(pk, 4500)
        with pytest.raises(DomainError):
            driver.void(pk)  # refunded is final: the table refuses, nothing is written
        assert _trail(driver.kind, pk) == [
            ("created", "", "draft"),
            ("sent", "draft", "sent"),
            ("buyer_marked_paid", "sent", "pending_confirmation"),
            ("payment_rejected", "pending_confirmation", "sent"),
            ("buyer_marked_paid", "sent", "pending_confirmation"),
            ("payment_confirmed", "pending_confirmation", "paid"),
            ("refunded", "paid", "partially_refunded"),
            ("refunded", "partially_refunded", "refunded"),
        ]
        assert _confirmations(driver.kind, pk) == ["buyer_marked_paid", "rejected", "buyer_marked_paid", "confirmed"]
        invoice = driver.kind.queryset().get(pk=pk)
        assert (invoice.status, invoice.version, invoice.refunded_cents) == ("refunded", 8, 6000)
    finally:
        driver.close()


class InvoiceActions(RuleBasedStateMachine):
    driver_class: type = TenantDriver
    invoices = Bundle("invoices")

    def __init__(self):
        super().__init__()
        self._atomics = [transaction.atomic(using=alias) for alias in (TENANT_DB, MARKETPLACE_DB)]
        for atomic in self._atomics:
            atomic.__enter__()
        self.driver = self.driver_class()
        self.kind = self.driver.kind

    def teardown(self):
        self.driver.close()
        for alias, atomic in zip((MARKETPLACE_DB, TENANT_DB), reversed(self._atomics), strict=True):
            transaction.set_rollback(True, using=alias)
            atomic.__exit__(None, None, None)

    def _snapshot(self):
        return (
            tuple(
                self.kind.model._base_manager.using(self.kind.using)
                .order_by("id")
                .values_list("id", "status", "version", "refunded_cents")
            ),
            self.kind.audit_model.objects.using(self.kind.using).count(),
            self.kind.confirmation_model.objects.using(self.kind.using).count(),
        )

    def attempt(self, action):
        """Run one step; if it is refused, nothing at all changed."""
        before = self._snapshot()
        try:
            with transaction.atomic(using=self.kind.using):
                action()
        except DomainError:
            assert self._snapshot() == before

    @initialize(target=invoices, amount=st.integers(1, 50_000))
    def first_invoice(self, amount):
        return self.driver.create(amount)

    @rule(target=invoices, amount=st.integers(1, 50_000))
    def another_invoice(self, amount):
        return self.driver.create(amount)

    @rule(pk=invoices)
    def send(self, pk):
        self.attempt(lambda: self.driver.send(pk))

    @rule(pk=invoices)
    def buyer_claims(self, pk):
        self.attempt(lambda: self.driver.claim(pk))

    @rule(pk=invoices)
    def seller_confirms(self, pk):
        self.attempt(lambda: self.driver.confirm(pk))

    @rule(pk=invoices)
    def seller_rejects(self, pk):
        self.attempt(lambda: self.driver.reject(pk))

    @rule(pk=invoices)
    def void(self, pk):
        self.attempt(lambda: self.driver.void(pk))

    @rule(pk=invoices, amount=st.one_of(st.just("rest"), st.integers(1, 60_000)))
    def refund(self, pk, amount):
        if amount == "rest":
            invoice = self.kind.model._base_manager.using(self.kind.using).get(pk=pk)
            amount = max(invoice.total_cents - invoice.refunded_cents, 1)
        self.attempt(lambda: self.driver.refund(pk, amount))

    @rule()
    def a_week_passes(self):
        self.attempt(self.driver.expire)

    @invariant()
    def money_status_and_audit_agree(self):
        # It runs after every step: every invoice's trail and confirmations come in two queries.
        trails, confirmations = _trails_and_confirmations(self.kind)
        for invoice in self.kind.model._base_manager.using(self.kind.using).all():
            assert 0 <= invoice.refunded_cents <= invoice.total_cents
            status = invoice.status
            if status in ("draft", "sent", "pending_confirmation", "void", "paid"):
                assert invoice.refunded_cents == 0
            if status == "partially_refunded":
                assert 0 < invoice.refunded_cents < invoice.total_cents
            if status == "refunded":
                assert invoice.refunded_cents == invoice.total_cents
            if status == "pending_confirmation":
                assert invoice.buyer_marked_paid_at is not None
            trail = trails[invoice.pk]
            assert len(trail) == invoice.version
            assert trail[0] == ("created", "", "draft")
            for (_, _, previous_new), (_, old, new) in itertools.pairwise(trail):
                assert old == previous_new
                assert old == new or INVOICE_TRANSITIONS.can(old, new), (old, new)
            assert trail[-1][2] == status
            events = confirmations[invoice.pk]
            assert events.count("buyer_marked_paid") == sum(1 for _, _, new in trail if new == "pending_confirmation")
            assert events.count("confirmed") == sum(1 for _, old, new in trail if new == "paid" and old != "paid")
            assert events.count("rejected") + events.count("expired") == sum(
                1 for _, old, new in trail if old == "pending_confirmation" and new == "sent"
            )


@pytest.mark.slow
@pytest.mark.parametrize("driver_class", DRIVERS)
def test_random_action_sequences_keep_the_invariants_for_both_kinds(driver_class):
    machine = type(f"{driver_class.__name__}Actions", (InvoiceActions,), {"driver_class": driver_class})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
