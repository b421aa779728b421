"""One row in every tenant-owned table for a tenant, written through the services."""

from __future__ import annotations

from django.utils import timezone

from breederhq.invoicing.documents import document_ensure, invoice_ref
from breederhq.tenancy import platform_context, tenant_context
from payments_app.models import (
    ConnectMoneyMovement,
    DisputeEvidenceFile,
    InvoiceDispute,
    InvoicePayment,
    RefundRequest,
    StripeConnectAccount,
)
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
        credit_note = services.invoice_refund(
            invoice_id=invoice.pk,
            amount_cents=5_000,
            reason="puppy food",
            idempotency_key=f"refund-{tenant.pk}",
            actor=owner,
        )
        # An invitation (and its membership audit row) for tenant_invitations and membership_audit_log.
        services.invitation_create(email=UserFactory().email, role="viewer", actor=owner)
        # A profile change, for tenant_profile_audit_log.
        services.tenant_update_profile(actor=owner, expected_version=tenant.version, phone="+1 555 0100")
        # The payment tables keyed by owner_tenant_id: the tenant's Connect account and an invoice's
        # payment row (the payments services write these in the same context).
        account = StripeConnectAccount.objects.create(
            stripe_account_id=f"acct_seed_{tenant.pk}", owner_type="tenant", owner_tenant=tenant
        )
        payment = InvoicePayment.objects.create(
            invoice_kind="tenant",
            invoice_id=invoice.pk,
            owner_tenant=tenant,
            provider="manual",
            amount_cents=35_000,
            currency=invoice.currency,
        )
        RefundRequest.objects.create(
            payment=payment,
            owner_tenant=tenant,
            idempotency_key="seed",
            amount_cents=100,
            currency=invoice.currency,
            status="succeeded",
        )
        _seed_ledger_and_dispute(payment, owner=tenant, suffix=str(tenant.pk))
        # The invoice's PDF, for invoice_documents (rendered as the worker does).
        document_ensure(invoice_ref("tenant_invoice", invoice))
    return {"contact": contact, "invoice": invoice, "credit_note": credit_note, "account": account, "payment": payment}


def seed_platform_rows() -> dict:
    """Rows of the payment tables that belong to no tenant (a service provider's Connect account, a
    marketplace invoice's payment): written in platform_context, reachable only there."""
    with platform_context():
        account = StripeConnectAccount.objects.create(
            stripe_account_id="acct_seed_provider", owner_type="provider", provider_id=990_001
        )
        payment = InvoicePayment.objects.create(
            invoice_kind="marketplace", invoice_id=990_001, provider="manual", amount_cents=12_000, currency="USD"
        )
        RefundRequest.objects.create(payment=payment, idempotency_key="seed", amount_cents=100, currency="USD")
        _seed_ledger_and_dispute(payment, owner=None, suffix="provider")
    return {"account": account, "payment": payment}


def _seed_ledger_and_dispute(payment, *, owner, suffix: str) -> None:
    """A money movement of the owner's connected account, a dispute of its payment and an evidence file."""
    ConnectMoneyMovement.objects.create(
        kind="payment",
        stripe_object_id=f"ch_seed_{suffix}",
        owner_tenant=owner,
        connect_account_id=f"acct_seed_{suffix}",
        amount_cents=100,
        currency="USD",
        occurred_at=timezone.now(),
    )
    dispute = InvoiceDispute.objects.create(
        payment=payment,
        owner_tenant=owner,
        invoice_kind=payment.invoice_kind,
        invoice_id=payment.invoice_id,
        stripe_dispute_id=f"dp_seed_{suffix}",
        amount_cents=100,
        currency="USD",
        status="needs_response",
    )
    DisputeEvidenceFile.objects.create(
        dispute=dispute,
        owner_tenant=owner,
        stripe_file_id=f"file_seed_{suffix}",
        filename="receipt.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256="0" * 64,
    )
