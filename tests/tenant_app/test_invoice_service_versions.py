"""`expected_version` in the tenant invoice services: compared under the row lock, a stale one is
VersionConflict (409) with the current version and changes nothing; None (admin, webhooks) skips it."""

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import VersionConflict
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Invoice, InvoiceAuditLog, Payment
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def tenant():
    tenant = TenantFactory(marketplace_payment_mode="manual")
    with tenant_context(tenant.pk):
        yield tenant


def sent(tenant) -> Invoice:  # version 2
    invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(10_000,))
    return services.invoice_send(invoice_id=invoice.pk)


def claimed(tenant) -> Invoice:  # version 3
    invoice = sent(tenant)
    return services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="wire")


def paid(tenant) -> Invoice:  # version 3
    invoice = sent(tenant)
    return services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key=f"cash-{invoice.pk}")


CHANGES = {
    "invoice_mark_paid": (
        sent,
        lambda i, owner, v: services.invoice_mark_paid(
            invoice_id=i.pk, method="manual", idempotency_key=f"k-{i.pk}", actor=owner, expected_version=v
        ),
    ),
    "invoice_confirm_payment": (
        claimed,
        lambda i, owner, v: services.invoice_confirm_payment(
            invoice_id=i.pk, actor=owner, reference="wire", expected_version=v
        ),
    ),
    "invoice_reject_payment": (
        claimed,
        lambda i, owner, v: services.invoice_reject_payment(
            invoice_id=i.pk, actor=owner, reason="no money", expected_version=v
        ),
    ),
    "invoice_buyer_mark_paid": (
        sent,
        lambda i, owner, v: services.invoice_buyer_mark_paid(
            invoice_id=i.pk, receipt=receipt_file(), reference="wire", expected_version=v
        ),
    ),
    "invoice_refund": (
        paid,
        lambda i, owner, v: services.invoice_refund(
            invoice_id=i.pk,
            amount_cents=1_000,
            reason="late",
            idempotency_key=f"r-{i.pk}",
            actor=owner,
            expected_version=v,
        ),
    ),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_stale_version_is_refused_with_the_current_one_and_changes_nothing(tenant, name):
    make, change = CHANGES[name]
    invoice = make(tenant)
    before = (invoice.status, invoice.version, Payment.objects.count(), InvoiceAuditLog.objects.count())
    with pytest.raises(VersionConflict) as refused:
        change(invoice, tenant.owner_user, invoice.version - 1)
    assert refused.value.extra == {"current_version": invoice.version}
    after = Invoice.objects.get(pk=invoice.pk)
    assert (after.status, after.version, Payment.objects.count(), InvoiceAuditLog.objects.count()) == before


@pytest.mark.parametrize("name", list(CHANGES))
@pytest.mark.parametrize("version", ["current", None])
def test_the_current_version_or_none_applies_the_change(tenant, name, version):
    make, change = CHANGES[name]
    invoice = make(tenant)
    change(invoice, tenant.owner_user, invoice.version if version == "current" else None)
    assert Invoice.objects.get(pk=invoice.pk).version == invoice.version + 1


def test_api_actions_pass_the_version_through_to_the_service(tenant):
    """The API takes no lock of its own any more: the version it passes is what the service checks."""
    from tests.api.conftest import bearer, body, send_json

    invoice = claimed(tenant)
    client = bearer(tenant.owner_user)
    stale = send_json(client, "patch", f"/api/v1/invoices/{invoice.pk}/", {"action": "confirm_payment", "version": 2})
    assert (stale.status_code, body(stale)["current_version"]) == (409, 3)
    with tenant_context(tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "pending_confirmation"
    ok = send_json(
        client,
        "patch",
        f"/api/v1/invoices/{invoice.pk}/",
        {"action": "reject_payment", "version": 3, "reason": "no money"},
    )
    assert (ok.status_code, body(ok)["status"], body(ok)["version"]) == (200, "sent", 4)
