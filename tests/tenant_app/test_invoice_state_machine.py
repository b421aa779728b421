"""Hypothesis: any sequence of invoice actions keeps the money and the audit trail consistent.

Invariants, checked after every step on every invoice:
paid <= total, refunded <= paid, the amounts equal the sums of their payment/refund rows and credit
notes, each status implies its amounts, one audit row per change (audit rows == version), and the
audit chain follows INVOICE_TRANSITIONS and ends in the current status. A refused action (any
DomainError) changes nothing at all.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import DomainError
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import INVOICE_TRANSITIONS, CreditNote, Invoice, InvoiceAuditLog, Payment
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])


def snapshot() -> tuple:
    return (
        tuple(
            Invoice.all_objects.order_by("id").values_list(
                "id", "status", "version", "paid_cents", "refunded_cents", "deleted_at"
            )
        ),
        InvoiceAuditLog.objects.count(),
        Payment.objects.count(),
        CreditNote.objects.count(),
    )


class InvoiceActions(RuleBasedStateMachine):
    invoices = Bundle("invoices")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic(using=TENANT_DB)
        self._atomic.__enter__()
        tenant = TenantFactory(marketplace_payment_mode="manual")
        self.owner = tenant.owner_user
        self._context = tenant_context(tenant.pk)
        self._context.__enter__()
        self.contact = ContactFactory(tenant=tenant)

    def teardown(self):
        self._context.__exit__(None, None, None)
        transaction.set_rollback(True, using=TENANT_DB)
        self._atomic.__exit__(None, None, None)

    def attempt(self, action):
        """Run one service; if it refuses, assert that nothing changed."""
        before = snapshot()
        try:
            with transaction.atomic(using=TENANT_DB):
                action()
        except DomainError:
            assert snapshot() == before

    @initialize(
        target=invoices, amounts=st.lists(st.integers(1, 50_000), min_size=1, max_size=3), tax=st.integers(0, 5_000)
    )
    def first_invoice(self, amounts, tax):
        return make_invoice(contact=self.contact, amounts=tuple(amounts), tax_cents=tax, actor=self.owner).pk

    @rule(target=invoices, amounts=st.lists(st.integers(1, 50_000), min_size=1, max_size=2))
    def another_invoice(self, amounts):
        return make_invoice(contact=self.contact, amounts=tuple(amounts)).pk

    @rule(invoice_id=invoices, stale=st.booleans(), amount=st.integers(1, 90_000))
    def edit_draft(self, invoice_id, stale, amount):
        version = Invoice.all_objects.get(pk=invoice_id).version - (1 if stale else 0)
        self.attempt(
            lambda: services.invoice_update_draft(
                invoice_id=invoice_id, expected_version=version, lines=[services.LineInput("Edited", amount)]
            )
        )

    @rule(invoice_id=invoices)
    def send(self, invoice_id):
        self.attempt(lambda: services.invoice_send(invoice_id=invoice_id, actor=self.owner))

    @rule(invoice_id=invoices)
    def buyer_marks_paid(self, invoice_id):
        self.attempt(lambda: services.invoice_buyer_mark_paid(invoice_id=invoice_id, receipt=receipt_file()))

    @rule(invoice_id=invoices)
    def provider_confirms(self, invoice_id):
        self.attempt(lambda: services.invoice_confirm_payment(invoice_id=invoice_id, actor=self.owner))

    @rule(invoice_id=invoices)
    def provider_rejects(self, invoice_id):
        self.attempt(lambda: services.invoice_reject_payment(invoice_id=invoice_id, actor=self.owner, reason="no"))

    @rule(invoice_id=invoices, key=KEYS)
    def mark_paid(self, invoice_id, key):
        self.attempt(lambda: services.invoice_mark_paid(invoice_id=invoice_id, method="manual", idempotency_key=key))

    @rule(invoice_id=invoices, amount=st.one_of(st.just("rest"), st.integers(1, 60_000)), key=KEYS)
    def record_payment(self, invoice_id, amount, key):
        if amount == "rest":
            invoice = Invoice.all_objects.get(pk=invoice_id)
            amount = max(invoice.total_cents - invoice.paid_cents, 1)
        self.attempt(
            lambda: services.invoice_record_payment(
                invoice_id=invoice_id, amount_cents=amount, method="manual", idempotency_key=key
            )
        )

    @rule(
        invoice_id=invoices,
        amount=st.one_of(st.just("rest"), st.integers(1, 60_000)),
        key=st.sampled_from(["r1", "r2", "r3"]),
    )
    def refund(self, invoice_id, amount, key):
        if amount == "rest":
            invoice = Invoice.all_objects.get(pk=invoice_id)
            amount = max(invoice.paid_cents - invoice.refunded_cents, 1)
        self.attempt(
            lambda: services.invoice_refund(invoice_id=invoice_id, amount_cents=amount, reason="r", idempotency_key=key)
        )

    @rule(invoice_id=invoices)
    def void(self, invoice_id):
        self.attempt(lambda: services.invoice_void(invoice_id=invoice_id))

    @rule(invoice_id=invoices)
    def delete(self, invoice_id):
        self.attempt(lambda: services.invoice_delete(invoice_id=invoice_id))

    @rule()
    def a_week_passes(self):
        self.attempt(lambda: services.invoice_expire_pending_confirmations(now=timezone.now() + timedelta(days=8)))

    @invariant()
    def money_and_audit_are_consistent(self):
        # It runs after every step: the sums and trails of every invoice come in four queries, not
        # in five per invoice.
        payments = defaultdict(int)
        for invoice_id, kind, total in (
            Payment.objects.order_by()
            .values("invoice_id", "kind")
            .annotate(s=Sum("amount_cents"))
            .values_list("invoice_id", "kind", "s")
        ):
            payments[invoice_id, kind] = total
        credited = defaultdict(int)
        for invoice_id, total in (
            CreditNote.objects.order_by()
            .values("invoice_id")
            .annotate(s=Sum("amount_cents"))
            .values_list("invoice_id", "s")
        ):
            credited[invoice_id] = total
        trails = defaultdict(list)
        for invoice_id, old, new in InvoiceAuditLog.objects.order_by("id").values_list(
            "invoice_id", "old_status", "new_status"
        ):
            trails[invoice_id].append((old, new))
        for invoice in Invoice.all_objects.all():
            assert 0 <= invoice.refunded_cents <= invoice.paid_cents <= invoice.total_cents
            assert invoice.total_cents == invoice.subtotal_cents + invoice.tax_cents
            assert invoice.paid_cents == payments[invoice.pk, "payment"]
            assert invoice.refunded_cents == payments[invoice.pk, "refund"]
            assert invoice.refunded_cents == credited[invoice.pk]
            status = invoice.status
            event(f"reached {status}")
            if status == "paid":
                assert invoice.paid_cents == invoice.total_cents and invoice.refunded_cents == 0
            if status in ("draft", "void"):
                assert invoice.paid_cents == 0
            if status == "partially_refunded":
                assert 0 < invoice.refunded_cents < invoice.paid_cents
            if status == "refunded":
                assert 0 < invoice.refunded_cents == invoice.paid_cents
            if status == "pending_confirmation":
                assert invoice.buyer_marked_paid_at is not None and invoice.buyer_payment_receipt.name
            trail = trails[invoice.pk]
            assert len(trail) == invoice.version
            assert trail[0] == ("", "draft")
            for (_, previous_new), (old, new) in pairwise(trail):
                assert old == previous_new
                assert old == new or INVOICE_TRANSITIONS.can(old, new), (old, new)
            assert trail[-1][1] == status


@pytest.mark.slow
def test_random_invoice_action_sequences_keep_the_invariants():
    run_state_machine_as_test(
        InvoiceActions,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
