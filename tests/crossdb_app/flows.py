"""The three cross-database flows as test scenarios: arrange the rows, act, and say what "the source
changed" and "the effect happened" mean for each (shared by the fault, workload and worker tests)."""

from collections.abc import Callable
from dataclasses import dataclass

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AppliedMessage, CrossDbReference, OutboxMessage
from tests.crossdb_app import services
from tests.crossdb_app.factories import ContactFactory, InvoiceFactory, MemberFactory, TransactionFactory
from tests.crossdb_app.marketplace_side.models import Effect as MarketplaceEffect
from tests.crossdb_app.marketplace_side.models import Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice
from tests.crossdb_app.tenant_side.models import Effect as TenantEffect


@dataclass
class Flow:
    name: str
    source: str
    target: str
    arrange: Callable[[], dict]
    act: Callable[[dict], None]
    source_changed: Callable[[dict], bool]
    effect_done: Callable[[dict], bool]
    expected_effects: Callable[[dict], list]


def effects(alias):
    model = TenantEffect if alias == TENANT_DB else MarketplaceEffect
    return sorted(model.objects.using(alias).values_list("kind", "object_id"))


def arrange_invoice_paid():
    invoice, other = InvoiceFactory(), InvoiceFactory()
    return {
        "invoice": invoice,
        "txn": TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk),
        "bystander": TransactionFactory(invoice_type="tenant", invoice_id=other.pk),
    }


def arrange_transaction_cancelled():
    invoice = InvoiceFactory()
    return {"invoice": invoice, "txn": TransactionFactory(invoice_type="tenant", invoice_id=invoice.pk)}


def arrange_member_erased():
    member, other = MemberFactory(), MemberFactory()
    return {
        "member": member,
        "contacts": [ContactFactory(marketplace_member_id=member.pk) for _ in range(2)],
        "bystander": ContactFactory(marketplace_member_id=other.pk),
        "other": other,
    }


def contacts_unlinked(s):
    linked = Contact.objects.filter(pk__in=[c.pk for c in s["contacts"]], marketplace_member_id__isnull=False)
    registered = CrossDbReference.objects.using(TENANT_DB).filter(target_id=s["member"].pk)
    bystander = Contact.objects.get(pk=s["bystander"].pk).marketplace_member_id == s["other"].pk
    return not linked.exists() and not registered.exists() and bystander


FLOWS = [
    Flow(
        "invoice_paid",
        TENANT_DB,
        MARKETPLACE_DB,
        arrange_invoice_paid,
        act=lambda s: services.invoice_mark_paid(invoice_id=s["invoice"].pk),
        source_changed=lambda s: Invoice.objects.get(pk=s["invoice"].pk).status == "paid",
        effect_done=lambda s: (
            Transaction.objects.get(pk=s["txn"].pk).status == "paid"
            and Transaction.objects.get(pk=s["bystander"].pk).status == "pending"
        ),
        expected_effects=lambda s: [("invoice_paid", s["invoice"].pk)],
    ),
    Flow(
        "transaction_cancelled",
        MARKETPLACE_DB,
        TENANT_DB,
        arrange_transaction_cancelled,
        act=lambda s: services.transaction_cancel(transaction_id=s["txn"].pk),
        source_changed=lambda s: Transaction.objects.get(pk=s["txn"].pk).status == "cancelled",
        effect_done=lambda s: Invoice.objects.get(pk=s["invoice"].pk).status == "void",
        expected_effects=lambda s: [("transaction_cancelled", s["txn"].pk)],
    ),
    Flow(
        "member_erased",
        MARKETPLACE_DB,
        TENANT_DB,
        arrange_member_erased,
        act=lambda s: services.member_erase(member_id=s["member"].pk),
        source_changed=lambda s: Member.all_objects.get(pk=s["member"].pk).erased_at is not None,
        effect_done=contacts_unlinked,
        expected_effects=lambda s: [("member_erased", s["member"].pk)],
    ),
]


def assert_exactly_once_and_clean(flow, state):
    """After the relay has run: the change and its effect both happened, the effect once."""
    assert flow.source_changed(state)
    assert flow.effect_done(state)
    assert effects(flow.target) == flow.expected_effects(state)
    assert effects(flow.source) == []
    assert OutboxMessage.objects.using(flow.source).filter(status="applied").count() == 1
    assert AppliedMessage.objects.using(flow.target).count() == 1
    assert run_crossdb_check(stuck_after_minutes=0)["problems"] == []
