"""A seeded random workload of creates, relinks, soft deletes, restores, refused hard deletes and the
three cross-database flows, interleaved with relay sweeps and injected faults and crashes at every
outbox step. Once the relay has run, crossdb_check is clean, every committed flow's effect happened
exactly once, and the business invariants between the databases hold."""

import random
from collections import Counter

import pytest

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.errors import IllegalTransition, NotFound, ReferencedRowDeletion
from breederhq.models import AppliedMessage, OutboxMessage
from breederhq.outbox import outbox_relay_due
from tests.breederhq.conftest import relay_until_quiet
from tests.crossdb_app import services
from tests.crossdb_app.factories import (
    ContactFactory,
    InvoiceFactory,
    MarketplaceInvoiceFactory,
    MemberFactory,
    TransactionFactory,
)
from tests.crossdb_app.faults import STEPS, InjectedCrash, InjectedFault
from tests.crossdb_app.flows import effects
from tests.crossdb_app.marketplace_side.models import MarketplaceInvoice, Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)

EXPECTED_FAILURES = (InjectedFault, InjectedCrash, IllegalTransition, NotFound, ReferencedRowDeletion)
TARGET_OF_TOPIC = {
    services.INVOICE_PAID: (MARKETPLACE_DB, "invoice_paid", "invoice_id"),
    services.TRANSACTION_CANCELLED: (TENANT_DB, "transaction_cancelled", "transaction_id"),
    services.MEMBER_ERASED: (TENANT_DB, "member_erased", "member_id"),
}


class Workload:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.log: Counter[str] = Counter()

    def pick(self, queryset):
        pks = list(queryset.order_by("pk").values_list("pk", flat=True))
        return self.rng.choice(pks) if pks else None

    def linkable_member(self):
        return self.pick(Member.all_objects.filter(erased_at__isnull=True)) if self.rng.random() < 0.8 else None

    # --- operations -----------------------------------------------------------------------------
    def create_member(self):
        MemberFactory()

    def create_contact(self):
        ContactFactory(marketplace_member_id=self.linkable_member())

    def relink_contact(self):
        pk = self.pick(Contact.objects.all())
        if pk:
            contact = Contact.objects.get(pk=pk)
            contact.marketplace_member_id = self.linkable_member()
            contact.save()

    def hard_delete_contact(self):
        pk = self.pick(Contact.objects.all())
        if pk:
            Contact.objects.filter(pk=pk).delete()

    def create_invoice(self):
        InvoiceFactory()

    def create_marketplace_invoice(self):
        MarketplaceInvoiceFactory()

    def create_transaction(self):
        if self.rng.random() < 0.7:
            pk = self.pick(Invoice.objects.filter(status="sent"))
            if pk:
                TransactionFactory(invoice_type="tenant", invoice_id=pk)
        else:
            pk = self.pick(MarketplaceInvoice.objects.all())
            if pk:
                TransactionFactory(invoice_type="marketplace", invoice_id=pk)

    def soft_delete(self):
        model = self.rng.choice([Member, Invoice, MarketplaceInvoice, Transaction])
        pk = self.pick(model.objects.all())
        if pk and self.rng.random() < 0.5:
            model.objects.get(pk=pk).delete()
        elif pk:
            model.objects.filter(pk=pk).delete()

    def restore(self):
        model = self.rng.choice([Member, Invoice, MarketplaceInvoice, Transaction])
        queryset = model.all_objects.deleted()
        if model is Member:
            queryset = queryset.filter(erased_at__isnull=True)
        pk = self.pick(queryset)
        if pk:
            model.all_objects.get(pk=pk).restore()

    def hard_delete_target(self):
        model = self.rng.choice([Member, Invoice, MarketplaceInvoice])
        pk = self.pick(model.all_objects.all())
        if pk:
            try:
                model.all_objects.get(pk=pk).hard_delete()
            except ReferencedRowDeletion:
                assert model.all_objects.filter(pk=pk).exists()  # refused means untouched
                raise

    def pay_invoice(self):
        pk = self.pick(Invoice.objects.all())
        if pk:
            services.invoice_mark_paid(invoice_id=pk)

    def cancel_transaction(self):
        pk = self.pick(Transaction.objects.all())
        if pk:
            services.transaction_cancel(transaction_id=pk)

    def erase_member(self):
        pk = self.pick(Member.all_objects.all())
        if pk:
            services.member_erase(member_id=pk)

    def relay(self):
        outbox_relay_due()

    def inject_fault(self, faults):
        faults.inject(self.rng.choice(STEPS), crash=self.rng.random() < 0.5)

    OPERATIONS = {
        "create_member": 6,
        "create_contact": 6,
        "relink_contact": 3,
        "hard_delete_contact": 1,
        "create_invoice": 5,
        "create_marketplace_invoice": 2,
        "create_transaction": 6,
        "soft_delete": 3,
        "restore": 2,
        "hard_delete_target": 2,
        "pay_invoice": 5,
        "cancel_transaction": 4,
        "erase_member": 3,
        "relay": 4,
        "inject_fault": 4,
    }

    def run(self, steps: int, faults) -> None:
        names, weights = zip(*self.OPERATIONS.items(), strict=True)
        for _ in range(steps):
            name = self.rng.choices(names, weights)[0]
            try:
                getattr(self, name)(faults) if name == "inject_fault" else getattr(self, name)()
                self.log[name] += 1
            except EXPECTED_FAILURES as failure:
                self.log[f"{name}:{type(failure).__name__}"] += 1


def assert_every_committed_flow_took_effect_exactly_once():
    expected = {TENANT_DB: Counter(), MARKETPLACE_DB: Counter()}
    for alias in DATABASE_ALIASES:
        for message in OutboxMessage.objects.using(alias):
            assert message.status == "applied", message
            target, kind, key = TARGET_OF_TOPIC[message.topic]
            assert message.target_db == target
            expected[target][(kind, message.payload[key])] += 1
            assert AppliedMessage.objects.using(target).filter(message_id=message.message_id).count() == 1
    for alias in DATABASE_ALIASES:
        assert Counter(effects(alias)) == expected[alias]
        assert AppliedMessage.objects.using(alias).count() == sum(expected[alias].values())
    # The services never enqueue twice for one entity, so every effect is for a distinct entity.
    assert all(count == 1 for alias in DATABASE_ALIASES for count in expected[alias].values())


def assert_business_invariants_hold():
    for txn in Transaction.all_objects.filter(invoice_type="tenant"):
        invoice = Invoice.all_objects.filter(pk=txn.invoice_id).first()
        if invoice is None:
            continue
        if invoice.status == "paid":
            assert txn.status in {"paid", "cancelled"}, (txn.pk, txn.status)
        if txn.status == "cancelled":
            assert invoice.status in {"void", "paid"}, (invoice.pk, invoice.status)
    erased = set(Member.all_objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    assert not Contact.objects.filter(marketplace_member_id__in=erased).exists()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_workload_with_faults_converges_to_a_clean_check(seed, faults):
    workload = Workload(seed)
    workload.run(150, faults)
    # Something of each kind really happened, faults included (guards against a vacuous run).
    assert workload.log["pay_invoice"] and workload.log["erase_member"] and workload.log["inject_fault"]
    assert any(":Injected" in name for name in workload.log), workload.log

    faults.clear()
    relay_until_quiet()
    assert run_crossdb_check(stuck_after_minutes=0)["problems"] == []
    assert_every_committed_flow_took_effect_exactly_once()
    assert_business_invariants_hold()
