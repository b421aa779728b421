"""The reconciliation rule has one home, the invoice core, for every caller and both kinds: staff
`resolved` closes a disagreement with Stripe, so it is refused on an invoice that does not disagree
(it used to be checked only by the admin action; the services accepted any change)."""

from __future__ import annotations

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, ValidationFailed
from breederhq.tenancy import tenant_context
from marketplace_app import services as mservices
from tenant_app import services as tservices
from tests.factories.marketplace import ProviderFactory, make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def _tenant_invoice():
    tenant = TenantFactory(marketplace_payment_mode="manual")
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant))
    return tenant.pk, invoice.pk


def _set_tenant(ids, status):
    tenant_id, invoice_id = ids
    with tenant_context(tenant_id):
        return tservices.invoice_set_reconciliation_status(invoice_id=invoice_id, status=status).reconciliation_status


def _marketplace_invoice():
    provider = ProviderFactory()
    tx = make_transaction(provider, amount_cents=1000)
    return mservices.marketplace_invoice_create(transaction_id=tx.pk, line_items=[mservices.LineItem("A", 1000)]).pk


def _set_marketplace(invoice_id, status):
    return mservices.marketplace_invoice_set_reconciliation_status(
        invoice_id=invoice_id, status=status
    ).reconciliation_status


KINDS = [
    pytest.param(_tenant_invoice, _set_tenant, id="tenant"),
    pytest.param(_marketplace_invoice, _set_marketplace, id="marketplace"),
]


@pytest.mark.parametrize(("make", "set_status"), KINDS)
@pytest.mark.parametrize("start", ["synced", "pending", "resolved"])
def test_resolved_is_refused_unless_the_invoice_disagrees(make, set_status, start):
    invoice = make()
    if start == "resolved":
        set_status(invoice, "mismatch")
        set_status(invoice, "resolved")
    elif start != "synced":
        set_status(invoice, start)
    if start == "resolved":
        assert set_status(invoice, "resolved") == "resolved"  # already so: nothing to change
        return
    with pytest.raises(Conflict) as refused:
        set_status(invoice, "resolved")
    assert refused.value.code == "nothing_to_resolve"


@pytest.mark.parametrize(("make", "set_status"), KINDS)
@pytest.mark.parametrize("disagreement", ["mismatch", "missing_remote", "missing_local"])
def test_a_disagreement_is_resolved_and_unknown_states_are_refused(make, set_status, disagreement):
    invoice = make()
    assert set_status(invoice, disagreement) == disagreement
    assert set_status(invoice, "resolved") == "resolved"
    with pytest.raises(ValidationFailed):
        set_status(invoice, "settled-ish")
