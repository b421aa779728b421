"""Provider counters equal a recomputation after any sequence of operations; the check command
reports drift, fixes it with --fix and exits 1; providers with transactions are never hard-deleted."""

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import DomainError, ReferencedRowDeletion
from marketplace_app import services
from marketplace_app.models import Provider
from marketplace_app.selectors import provider_stats_drift, provider_stats_recompute
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

operation = st.one_of(
    st.tuples(st.just("listing_create"), st.integers(0, 1)),
    st.tuples(st.sampled_from(["publish", "pause", "archive"]), st.integers(0, 5)),
    st.tuples(st.just("buy"), st.integers(0, 1), st.integers(0, 50_000)),
    st.tuples(st.sampled_from(["pay", "cancel", "dispute", "win", "lose"]), st.integers(0, 7)),
    st.tuples(st.just("refund"), st.integers(0, 7), st.integers(1, 30_000)),
    st.tuples(st.just("delete_provider"), st.integers(0, 1)),
)


def _run(step, providers, listings, transactions, buyer):
    kind, index, *rest = step
    if kind == "listing_create":
        listings.append(make_listing(providers[index], publish=False))
        return
    if kind in {"publish", "pause", "archive"}:
        if listings:
            target = {"publish": "active", "pause": "paused", "archive": "archived"}[kind]
            services.listing_transition(listing_id=listings[index % len(listings)].pk, target=target)
        return
    if kind == "buy":
        transactions.append(
            services.transaction_create(provider_id=providers[index].pk, client_id=buyer.pk, amount_cents=rest[0])
        )
        return
    if kind == "delete_provider":
        services.provider_delete(provider_id=providers[index].pk)
        return
    if not transactions:
        return
    tx_id = transactions[index % len(transactions)].pk
    {
        "pay": lambda: services.transaction_mark_paid(transaction_id=tx_id),
        "cancel": lambda: services.transaction_cancel(transaction_id=tx_id),
        "dispute": lambda: services.transaction_dispute(transaction_id=tx_id),
        "win": lambda: services.transaction_resolve_dispute(transaction_id=tx_id, won=True),
        "lose": lambda: services.transaction_resolve_dispute(transaction_id=tx_id, won=False),
        "refund": lambda: services.transaction_refund(transaction_id=tx_id, amount_cents=rest[0]),
    }[kind]()


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(operation, max_size=25))
def test_stats_equal_a_recomputation_after_random_operations(steps):
    providers = [ProviderFactory(), ProviderFactory(breeder=True)]
    buyer = MarketplaceUserFactory()
    listings, transactions = [], []
    for step in steps:
        try:
            _run(step, providers, listings, transactions, buyer)
        except DomainError:
            pass  # refused operations must leave the counters alone; checked below like the rest
    for provider in providers:
        stored = Provider.all_objects.values("total_listings", "total_transactions", "total_revenue_cents").get(
            pk=provider.pk
        )
        assert stored == provider_stats_recompute(provider_id=provider.pk)
        # And the recomputation itself matches the definitions, counted here in Python.
        mine = [tx for tx in provider.transactions.all()]
        assert stored["total_transactions"] == sum(1 for tx in mine if tx.status != "cancelled")
        assert stored["total_revenue_cents"] == sum(
            tx.amount_cents - tx.refunded_cents for tx in mine if tx.status in {"paid", "disputed", "refunded"}
        )
        assert stored["total_listings"] == provider.listings.filter(status="active").count()
    assert provider_stats_drift() == []


def test_check_command_reports_drift_fixes_it_and_exits_1(capsys):
    provider = ProviderFactory(business_name="Drifty")
    make_listing(provider)
    services.transaction_create(provider_id=provider.pk, client_id=MarketplaceUserFactory().pk, amount_cents=700)
    healthy = ProviderFactory()
    make_listing(healthy)

    call_command("provider_stats_check")
    assert "no drift" in capsys.readouterr().out

    Provider.objects.filter(pk=provider.pk).update(total_listings=5, total_revenue_cents=-3)
    with pytest.raises(SystemExit) as exited:
        call_command("provider_stats_check")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert (
        f"provider #{provider.pk} (Drifty): total_listings stored 5 actual 1, total_revenue_cents stored -3 actual 0"
        in out
    )
    assert f"#{healthy.pk}" not in out
    assert Provider.objects.get(pk=provider.pk).total_listings == 5  # report only, nothing changed

    with pytest.raises(SystemExit) as exited:
        call_command("provider_stats_check", "--fix")
    assert exited.value.code == 1
    provider.refresh_from_db()
    assert (provider.total_listings, provider.total_transactions, provider.total_revenue_cents) == (1, 1, 0)
    call_command("provider_stats_check")
    assert "no drift" in capsys.readouterr().out


def test_provider_with_transactions_is_never_hard_deleted():
    provider = ProviderFactory()
    services.transaction_create(provider_id=provider.pk, client_id=MarketplaceUserFactory().pk, amount_cents=100)
    with pytest.raises(ReferencedRowDeletion) as refused:
        provider.hard_delete()
    assert refused.value.code == "provider_has_transactions"
    assert "only be soft-deleted" in str(refused.value)
    assert Provider.all_objects.filter(pk=provider.pk, deleted_at__isnull=True).exists()

    services.provider_delete(provider_id=provider.pk)
    assert not Provider.objects.filter(pk=provider.pk).exists()
    assert Provider.all_objects.get(pk=provider.pk).deleted_at is not None


def test_provider_without_transactions_can_be_hard_deleted():
    provider = ProviderFactory()
    provider.hard_delete()
    assert not Provider.all_objects.filter(pk=provider.pk).exists()


def test_breeder_provider_records_its_tenant_reference():
    from breederhq.models import CrossDbReference

    provider = ProviderFactory(breeder=True, tenant_id=4242)
    ref = CrossDbReference.objects.using(MARKETPLACE_DB).get(
        source_table="marketplace_providers", source_id=provider.pk
    )
    assert (ref.source_column, ref.target_db, ref.target_table, ref.target_id) == (
        "tenant_id",
        TENANT_DB,
        "tenants",
        4242,
    )


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_concurrent_writers_keep_the_counters_exact():
    import threading

    from django.db import connections

    provider = ProviderFactory()
    buyers = [MarketplaceUserFactory() for _ in range(6)]
    barrier = threading.Barrier(len(buyers))
    errors = []

    def buy_and_pay(buyer):
        try:
            barrier.wait()
            tx = services.transaction_create(provider_id=provider.pk, client_id=buyer.pk, amount_cents=1000)
            services.transaction_mark_paid(transaction_id=tx.pk)
            services.transaction_refund(transaction_id=tx.pk, amount_cents=100)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=buy_and_pay, args=(buyer,)) for buyer in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    provider.refresh_from_db()
    assert (provider.total_transactions, provider.total_revenue_cents) == (6, 6 * 900)
    assert provider_stats_drift() == []


@pytest.mark.parametrize(
    "start, amount, refund, expected_after_pay, expected_after_refund",
    [
        (2**63 - 1 - 10, 1_000, 400, 2**63 - 1, 2**63 - 1 - 400),  # a sale past the top stops at it
        (-(2**63 - 1) + 10, 1_000, 1_000, -(2**63 - 1) + 1_010, -(2**63 - 1) + 10),  # a refund near the bottom
    ],
)
def test_revenue_near_the_bigint_bounds_saturates_instead_of_failing_the_sale(
    start, amount, refund, expected_after_pay, expected_after_refund
):
    provider = ProviderFactory()
    Provider.all_objects.filter(pk=provider.pk).update(total_revenue_cents=start)
    tx = services.transaction_create(
        provider_id=provider.pk, client_id=MarketplaceUserFactory().pk, amount_cents=amount
    )
    services.transaction_mark_paid(transaction_id=tx.pk)
    assert Provider.all_objects.get(pk=provider.pk).total_revenue_cents == expected_after_pay
    services.transaction_refund(transaction_id=tx.pk, amount_cents=refund)
    assert Provider.all_objects.get(pk=provider.pk).total_revenue_cents == expected_after_refund


def test_a_refund_at_the_bottom_bound_saturates_too():
    provider = ProviderFactory()
    tx = services.transaction_create(provider_id=provider.pk, client_id=MarketplaceUserFactory().pk, amount_cents=500)
    services.transaction_mark_paid(transaction_id=tx.pk)
    Provider.all_objects.filter(pk=provider.pk).update(total_revenue_cents=-(2**63 - 1) + 100)
    services.transaction_refund(transaction_id=tx.pk, amount_cents=500)
    assert Provider.all_objects.get(pk=provider.pk).total_revenue_cents == -(2**63 - 1)
