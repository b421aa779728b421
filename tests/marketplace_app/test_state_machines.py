"""Transaction and invoice state machines, driven through the services by hypothesis and checked
against transition tables written out independently here (docs/architecture/marketplace.md#state-machines)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, DomainError, IllegalTransition
from marketplace_app import services
from marketplace_app.models import INVOICE_STATES, TRANSACTION_STATES, MarketplaceInvoice, MarketplaceTransaction
from marketplace_app.selectors import provider_stats_recompute
from marketplace_app.services import LineItem
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# The transitions the marketplace allows, plus dispute resolution (won -> paid, lost -> refunded).
TRANSACTION_EDGES = {
    ("pending_invoice", "invoiced"),
    ("pending_invoice", "paid"),
    ("pending_invoice", "cancelled"),
    ("invoiced", "paid"),
    ("invoiced", "cancelled"),
    ("paid", "refunded"),
    ("paid", "disputed"),
    ("disputed", "paid"),
    ("disputed", "refunded"),
}
INVOICE_EDGES = {
    ("draft", "sent"),
    ("draft", "void"),
    ("sent", "pending_confirmation"),
    ("sent", "paid"),
    ("sent", "void"),
    ("pending_confirmation", "paid"),
    ("pending_confirmation", "sent"),
    ("pending_confirmation", "void"),
    ("paid", "partially_refunded"),
    ("paid", "refunded"),
    ("partially_refunded", "partially_refunded"),
    ("partially_refunded", "refunded"),
}


def test_the_code_tables_are_exactly_the_designed_ones():
    assert {(a, b) for a, targets in TRANSACTION_STATES.transitions.items() for b in targets} == TRANSACTION_EDGES
    assert {(a, b) for a, targets in INVOICE_STATES.transitions.items() for b in targets} == INVOICE_EDGES


TX_OPERATIONS = ["attach_invoice", "mark_paid", "cancel", "dispute", "resolve_won", "resolve_lost", "refund_all"]
TX_TARGET = {
    "attach_invoice": "invoiced",
    "mark_paid": "paid",
    "cancel": "cancelled",
    "dispute": "disputed",
    "resolve_won": "paid",
    "resolve_lost": "refunded",
    "refund_all": "refunded",
}


def _apply_tx(operation: str, tx_id: int, amount: int):
    calls = {
        "attach_invoice": lambda: services.transaction_attach_invoice(
            transaction_id=tx_id, invoice_type="tenant", invoice_id=900
        ),
        "mark_paid": lambda: services.transaction_mark_paid(transaction_id=tx_id),
        "cancel": lambda: services.transaction_cancel(transaction_id=tx_id),
        "dispute": lambda: services.transaction_dispute(transaction_id=tx_id),
        "resolve_won": lambda: services.transaction_resolve_dispute(transaction_id=tx_id, won=True),
        "resolve_lost": lambda: services.transaction_resolve_dispute(transaction_id=tx_id, won=False),
        "refund_all": lambda: services.transaction_refund(transaction_id=tx_id, amount_cents=amount),
    }
    return calls[operation]()


def _expected_tx(state: str, operation: str) -> str | None:
    """The next state, or None when the operation must be refused."""
    target = TX_TARGET[operation]
    if operation == "mark_paid" and state in {"paid", "disputed", "refunded"}:
        return state  # idempotent: a second "paid" changes nothing
    if operation.startswith("resolve") and state != "disputed":
        return None
    if operation == "attach_invoice" and state != "pending_invoice":
        return None
    return target if (state, target) in TRANSACTION_EDGES else None


@pytest.mark.slow
@HYPOTHESIS
@given(operations=st.lists(st.sampled_from(TX_OPERATIONS), max_size=10))
def test_transaction_state_machine(operations):
    provider = ProviderFactory(breeder=True)
    tx = make_transaction(provider, amount_cents=2500)
    state = "pending_invoice"
    for operation in operations:
        expected = _expected_tx(state, operation)
        before = MarketplaceTransaction.objects.values().get(pk=tx.pk)
        if expected is None:
            with pytest.raises((IllegalTransition, Conflict)) as refused:
                _apply_tx(operation, tx.pk, 2500)
            assert refused.value.status == 409
            assert MarketplaceTransaction.objects.values().get(pk=tx.pk) == before
        else:
            _apply_tx(operation, tx.pk, 2500)
            state = expected
        assert MarketplaceTransaction.objects.get(pk=tx.pk).status == state
    provider.refresh_from_db()
    actual = provider_stats_recompute(provider_id=provider.pk)
    assert {k: getattr(provider, k) for k in actual} == actual
    assert provider.total_transactions == (0 if state == "cancelled" else 1)
    assert provider.total_revenue_cents == (2500 if state in {"paid", "disputed"} else 0)


INVOICE_OPERATIONS = ["send", "buyer_claim", "reject_claim", "confirm_paid", "void", "refund_part", "refund_rest"]


def _expected_invoice(state: str, refunded: int, total: int, operation: str) -> tuple[str, int] | None:
    if operation == "confirm_paid" and state in {"paid", "partially_refunded", "refunded"}:
        return state, refunded  # idempotent no-op
    if operation in {"refund_part", "refund_rest"}:
        if state not in {"paid", "partially_refunded"}:
            return None
        amount = 1000 if operation == "refund_part" else total - refunded
        if amount <= 0 or refunded + amount > total:
            return None
        new_refunded = refunded + amount
        return ("refunded" if new_refunded == total else "partially_refunded"), new_refunded
    target = {
        "send": "sent",
        "buyer_claim": "pending_confirmation",
        "reject_claim": "sent",
        "confirm_paid": "paid",
        "void": "void",
    }[operation]
    if operation == "reject_claim" and state != "pending_confirmation":
        return None
    if operation == "send" and state != "draft":
        return None  # only a draft is sent: a buyer's claim is rejected or expires, never re-sent over
    return (target, refunded) if (state, target) in INVOICE_EDGES else None


@pytest.mark.slow
@HYPOTHESIS
@given(operations=st.lists(st.sampled_from(INVOICE_OPERATIONS), max_size=10))
def test_invoice_state_machine(operations):
    provider = ProviderFactory(payment_mode="manual")
    buyer = MarketplaceUserFactory()
    tx = make_transaction(provider, buyer, amount_cents=3000)
    invoice = services.marketplace_invoice_create(transaction_id=tx.pk, line_items=[LineItem("Service", 3000)])
    state, refunded, total = "draft", 0, 3000
    for operation in operations:
        current = MarketplaceInvoice.objects.get(pk=invoice.pk)
        calls = {
            "send": lambda current=current: services.marketplace_invoice_send(
                invoice_id=invoice.pk, expected_version=current.version
            ),
            "buyer_claim": lambda current=current: services.marketplace_invoice_buyer_mark_paid(
                invoice_id=invoice.pk,
                buyer_id=buyer.pk,
                receipt_url="https://files.test/r.pdf",
                expected_version=current.version,
            ),
            "reject_claim": lambda current=current: services.marketplace_invoice_reject_payment_claim(
                invoice_id=invoice.pk, expected_version=current.version
            ),
            "confirm_paid": lambda: services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual"),
            "void": lambda current=current: services.marketplace_invoice_void(
                invoice_id=invoice.pk, expected_version=current.version
            ),
            "refund_part": lambda: services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=1000),
            "refund_rest": lambda refunded=refunded: services.marketplace_invoice_refund(
                invoice_id=invoice.pk, amount_cents=max(total - refunded, 1) if total - refunded else 1
            ),
        }
        expected = _expected_invoice(state, refunded, total, operation)
        before = MarketplaceInvoice.objects.values().get(pk=invoice.pk)
        if expected is None:
            with pytest.raises(DomainError):
                calls[operation]()
            assert MarketplaceInvoice.objects.values().get(pk=invoice.pk) == before
        else:
            calls[operation]()
            changed = expected != (state, refunded)
            state, refunded = expected
            after = MarketplaceInvoice.objects.get(pk=invoice.pk)
            assert after.version == current.version + (1 if changed else 0)
        after = MarketplaceInvoice.objects.get(pk=invoice.pk)
        assert (after.status, after.refunded_cents) == (state, refunded)
    tx.refresh_from_db()
    provider.refresh_from_db()
    expected_tx_state = {
        "draft": "invoiced",
        "sent": "invoiced",
        "pending_confirmation": "invoiced",
        "void": "cancelled",
        "paid": "paid",
        "partially_refunded": "paid",
        "refunded": "refunded",
    }[state]
    assert (tx.status, tx.refunded_cents) == (expected_tx_state, refunded)
    actual = provider_stats_recompute(provider_id=provider.pk)
    assert {k: getattr(provider, k) for k in actual} == actual
