"""One row in every tenant-owned table for a tenant, written through the services."""

from __future__ import annotations

from breederhq.tenancy import tenant_context
from tenant_app import services
from tests.factories.tenant import ContactFactory, UserFactory, make_invoice, receipt_file


def seed_every_table(tenant) -> dict:
    owner = tenant.owner_user
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant, marketplace_user_id=7000 + tenant.pk)
        invoice = make_invoice(contact=contact, amounts=(30_000, 5_000), actor=owner)
        services.invoice_send(invoice_id=invoice.pk, actor=owner)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="bank-1")
        services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference="bank-1")
        credit_note = services.invoice_refund(invoice_id=invoice.pk, amount_cents=5_000, reason="puppy food",
                                              idempotency_key=f"refund-{tenant.pk}", actor=owner)
        # An invitation (and its membership audit row) for tenant_invitations and membership_audit_log.
        services.invitation_create(email=UserFactory().email, role="viewer", actor=owner)
    return {"contact": contact, "invoice": invoice, "credit_note": credit_note}
