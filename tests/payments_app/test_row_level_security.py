"""Row-level security on the payment tables keyed by owner_tenant_id (`invoice_payments`,
`stripe_connect_accounts`), as the application role: no context, no rows; a tenant's context, only
its rows; rows with no owner (marketplace invoices' payments, service providers' accounts) only in
platform_context; the webhook worker finds a row through the audited system read and writes it in
its owner's context."""

import pytest
from django.db import DatabaseError, connection, transaction

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import platform_context, system_read_context, tenant_context
from payments_app.models import InvoicePayment, StripeConnectAccount
from tests.factories.tenant import TenantFactory
from tests.fakes.stripe_server import stripe_event
from tests.payments_app.conftest import deliver_and_process
from tests.tenant_app.seed import seed_every_table, seed_platform_rows

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

TABLES = ["invoice_payments", "stripe_connect_accounts"]


@pytest.fixture
def rows():
    a, b = TenantFactory(name="A Kennels"), TenantFactory(name="B Cattery")
    return a, b, seed_every_table(a), seed_every_table(b), seed_platform_rows()


def owners_seen(table: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT owner_tenant_id FROM "{table}" ORDER BY owner_tenant_id NULLS LAST')
        return [owner for (owner,) in cursor.fetchall()]


@pytest.mark.parametrize("table", TABLES)
def test_rls_is_forced_on_the_table(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table])
        assert cursor.fetchone() == (True, True)
        cursor.execute("SELECT current_user, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        user, bypass = cursor.fetchone()
        assert not bypass, f"the tests must run as the application role, not {user}"


@pytest.mark.parametrize("table", TABLES)
def test_without_a_context_there_are_no_rows(rows, table):
    assert owners_seen(table) == []
    assert InvoicePayment.objects.count() == StripeConnectAccount.objects.count() == 0


@pytest.mark.parametrize("table", TABLES)
def test_a_tenant_sees_only_its_own_rows_never_the_platforms(rows, table):
    a, b, *_ = rows
    with tenant_context(a.pk):
        assert owners_seen(table) == [a.pk]
    with tenant_context(b.pk):
        assert owners_seen(table) == [b.pk]
    with platform_context():
        assert owners_seen(table) == [None]


def test_another_tenants_row_cannot_be_written(rows):
    a, b, seed_a, seed_b, platform = rows
    with tenant_context(a.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            InvoicePayment.objects.create(
                invoice_kind="tenant",
                invoice_id=seed_b["invoice"].pk + 1000,
                owner_tenant=b,
                provider="manual",
                amount_cents=1,
                currency="USD",
            )
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            StripeConnectAccount.objects.create(stripe_account_id="acct_sneaky", owner_type="tenant", owner_tenant=b)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():  # a platform row
            InvoicePayment.objects.create(
                invoice_kind="marketplace", invoice_id=424242, provider="manual", amount_cents=1, currency="USD"
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE invoice_payments SET amount_cents = 1 WHERE id IN (%s, %s)",
                [seed_b["payment"].pk, platform["payment"].pk],
            )
            assert cursor.rowcount == 0
            cursor.execute(
                "UPDATE stripe_connect_accounts SET allow_manual_fallback = false WHERE id <> %s",
                [seed_a["account"].pk],
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM stripe_connect_accounts WHERE owner_tenant_id = %s", [b.pk])
            assert cursor.rowcount == 0
        # Moving one's own row to another tenant is refused too (WITH CHECK).
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            InvoicePayment.objects.filter(pk=seed_a["payment"].pk).update(owner_tenant=b)
    with platform_context():  # the platform context reaches no tenant's row either
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            StripeConnectAccount.objects.create(stripe_account_id="acct_sneaky", owner_type="tenant", owner_tenant=a)
    with tenant_context(b.pk):
        assert InvoicePayment.objects.get().amount_cents == 35_000
        assert StripeConnectAccount.objects.get().allow_manual_fallback is True


def test_the_system_read_sees_every_row_writes_none_and_is_audited(rows):
    a, b, *_ = rows
    before = CrossTenantQueryAudit.objects.using(TENANT_DB).count()
    with system_read_context(job="test:payments"):
        assert sorted(owners_seen("invoice_payments"), key=str) == sorted([a.pk, b.pk, None], key=str)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE invoice_payments SET amount_cents = 1")
            assert cursor.rowcount == 0
    audit = CrossTenantQueryAudit.objects.using(TENANT_DB).order_by("-pk").first()
    assert CrossTenantQueryAudit.objects.using(TENANT_DB).count() == before + 1
    assert (audit.query_type, audit.target_tenant_id) == ("system:test:payments", 0)


def test_the_webhook_worker_finds_the_account_through_the_audited_read_and_writes_in_its_tenant(
    client, rows, webhook_secret
):
    a, b, seed_a, *_ = rows
    event = stripe_event(
        "account.updated",
        {
            "id": seed_a["account"].stripe_account_id,
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {},
        },
    )
    processed = deliver_and_process(client, event)
    assert processed.outcome == f"account {seed_a['account'].stripe_account_id} is enabled"
    assert (
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .filter(query_type="system:stripe_webhook:account.updated")
        .exists()
    )
    with tenant_context(a.pk):
        assert StripeConnectAccount.objects.get().status == "enabled"
    with tenant_context(b.pk):
        assert StripeConnectAccount.objects.get().status == "pending"
