"""Reads on the tenant side. Every selector names the tenant it reads, and row-level security
confines the rows to the tenant of the current context as well: both have to agree."""

from __future__ import annotations

from django.db.models import QuerySet

from breederhq.databases import TENANT_DB
from breederhq.tenancy import own_rows_context
from tenant_app.models import (
    Contact,
    Invoice,
    InvoiceAuditLog,
    Payment,
    TenantInvitation,
    TenantMembership,
    User,
)


def contact_list(*, tenant_id: int) -> QuerySet[Contact]:
    return Contact.objects.filter(tenant_id=tenant_id).order_by("last_name", "first_name", "organization_name", "id")


def contact_get_by_marketplace_user(*, tenant_id: int, marketplace_user_id: int) -> Contact | None:
    """The one allowed way to find a contact from a marketplace user: always inside one tenant."""
    return Contact.objects.filter(tenant_id=tenant_id, marketplace_user_id=marketplace_user_id).first()


def invoice_list(*, tenant_id: int, status: str | None = None) -> QuerySet[Invoice]:
    invoices = Invoice.objects.filter(tenant_id=tenant_id).select_related("contact").order_by("-created_at", "-id")
    return invoices if status is None else invoices.filter(status=status)


def invoice_get(*, tenant_id: int, invoice_id: int) -> Invoice | None:
    return Invoice.objects.filter(tenant_id=tenant_id, pk=invoice_id).prefetch_related("line_items").first()


def invoice_audit_trail(*, tenant_id: int, invoice_id: int) -> QuerySet[InvoiceAuditLog]:
    return InvoiceAuditLog.objects.filter(tenant_id=tenant_id, invoice_id=invoice_id).order_by("id")


def membership_list(*, tenant_id: int) -> QuerySet[TenantMembership]:
    return TenantMembership.objects.filter(tenant_id=tenant_id).select_related("user").order_by("id")


def invoice_refund_list(*, tenant_id: int, invoice_id: int) -> QuerySet[Payment]:
    """An invoice's refunds: refund payment rows with the credit note each issued, newest first."""
    return (
        Payment.objects.filter(tenant_id=tenant_id, invoice_id=invoice_id, kind=Payment.Kind.REFUND)
        .select_related("credit_note", "recorded_by")
        .order_by("-created_at", "-id")
    )


def invitation_list(*, tenant_id: int) -> QuerySet[TenantInvitation]:
    return (
        TenantInvitation.objects.filter(tenant_id=tenant_id).select_related("invited_by").order_by("-created_at", "-id")
    )


def invitations_addressed_to(*, user: User) -> list[TenantInvitation]:
    """The open invitations sent to the user's email, in every tenant (newest first). They belong to
    tenants the user may not be in yet: the `addressee_read` policy on tenant_invitations lets a user
    read the invitations whose address is their account's email (read from the users table by the
    policy itself, never from the request), so this is no cross-tenant read and writes no audit."""
    with own_rows_context(user.pk, using=TENANT_DB):
        return list(
            TenantInvitation.objects.filter(email__iexact=user.email.strip())
            .open()
            .select_related("tenant", "invited_by")
            .order_by("-created_at", "-id")
        )
