"""Everything the platform holds on one person, as JSON, for subject access requests (docs/operations/runbook.md).

A marketplace user: their profile, providers, purchases, marketplace invoices, threads and the
messages they sent, blocks — and, across every tenant, the contacts linked to them with the invoices
addressed to those contacts (read through the audited system read context; tenant tables force RLS).
Erasure is `marketplace_app.services.marketplace_user_erase` (anonymise, soft delete, outbox unlinks
the tenants' contacts); financial records keep their amounts.
"""

from __future__ import annotations

from django.db import transaction

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import NotFound
from breederhq.models import CrossDbReference
from breederhq.tenancy import system_read_context


def _rows(rows, *, exclude=()) -> list[dict]:
    """Each row's columns, JSON-ready (dates, decimals and files as strings)."""
    return [
        {
            f.attname: (
                v if isinstance(v := getattr(row, f.attname), (int, str, bool, type(None), list, dict)) else str(v)
            )
            for f in row._meta.concrete_fields
            if f.name not in exclude
        }
        for row in rows
    ]


def _audit(
    *,
    staff_username: str,
    staff_user_id: int | None,
    action: str,
    model: str,
    database: str,
    target_id,
    reason: str,
    result: str,
) -> None:
    with transaction.atomic(using=TENANT_DB):
        StaffActionAudit.objects.using(TENANT_DB).create(
            actor_id=staff_user_id or 0,
            actor_username=staff_username,
            action=action,
            target_model=model,
            target_database=database,
            target_id=str(target_id),
            reason=reason,
            result=result,
        )


def export_contact(
    *, tenant_id: int, contact_id: int, staff_username: str, reason: str, staff_user_id: int | None = None
) -> dict:
    """One tenant's contact: the contact, the invoices addressed to them with their lines and
    payments, in that tenant's context; plus the linked marketplace user's export, if any."""
    from breederhq.tenancy import tenant_context
    from tenant_app.models import Contact, Invoice, InvoiceLineItem, Payment

    with tenant_context(tenant_id):
        contact = Contact.all_objects.filter(pk=contact_id).first()
        if contact is None:
            raise NotFound(f"No contact #{contact_id} in tenant #{tenant_id}.")
        invoices = list(Invoice.all_objects.filter(contact_id=contact_id).order_by("pk"))
        export = {
            "tenant_contact": _rows([contact])[0],
            "invoices": _rows(invoices, exclude=("buyer_payment_receipt",)),
            "invoice_lines": _rows(InvoiceLineItem.objects.filter(invoice__in=invoices).order_by("pk")),
            "payments": _rows(Payment.objects.filter(invoice__in=invoices).order_by("pk")),
        }
    _audit(
        staff_username=staff_username,
        staff_user_id=staff_user_id,
        action="export_personal_data",
        model="tenant_app.Contact",
        database=TENANT_DB,
        target_id=contact_id,
        reason=reason,
        result="exported",
    )
    if contact.marketplace_user_id:
        export["marketplace"] = export_marketplace_user(
            marketplace_user_id=contact.marketplace_user_id,
            staff_username=staff_username,
            reason=reason,
            staff_user_id=staff_user_id,
        )
    return export


def erase_contact(
    *, tenant_id: int, contact_id: int, staff_username: str, reason: str, staff_user_id: int | None = None
) -> None:
    """Anonymise one tenant's contact; invoices and payments keep their amounts (the ledger). The
    person's marketplace identity, if any, is erased too, which unlinks them in every tenant through
    the outbox (`marketplace_user_erase`)."""
    from breederhq.tenancy import tenant_context
    from marketplace_app.services import marketplace_user_erase
    from tenant_app.models import Contact

    with tenant_context(tenant_id):
        contact = Contact.all_objects.select_for_update().filter(pk=contact_id).first()
        if contact is None:
            raise NotFound(f"No contact #{contact_id} in tenant #{tenant_id}.")
        marketplace_user_id = contact.marketplace_user_id
        for field in (
            "first_name",
            "last_name",
            "organization_name",
            "email",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "notes",
        ):
            if hasattr(contact, field):
                setattr(contact, field, "")
        contact.first_name = "Erased"
        contact.save(using=TENANT_DB)
    _audit(
        staff_username=staff_username,
        staff_user_id=staff_user_id,
        action="erase_personal_data",
        model="tenant_app.Contact",
        database=TENANT_DB,
        target_id=contact_id,
        reason=reason,
        result="anonymised",
    )
    if marketplace_user_id:
        marketplace_user_erase(user_id=marketplace_user_id)


def export_marketplace_user(
    *, marketplace_user_id: int, staff_username: str, reason: str, staff_user_id: int | None = None
) -> dict:
    from marketplace_app.models import (
        MarketplaceInvoice,
        MarketplaceTransaction,
        MarketplaceUser,
        Message,
        MessageThread,
        Provider,
        UserBlock,
    )
    from tenant_app.models import Contact, Invoice

    user = MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(pk=marketplace_user_id).first()
    if user is None:
        raise NotFound(f"No marketplace user #{marketplace_user_id}.")
    _audit(
        staff_username=staff_username,
        staff_user_id=staff_user_id,
        action="export_personal_data",
        model="marketplace_app.MarketplaceUser",
        database=MARKETPLACE_DB,
        target_id=marketplace_user_id,
        reason=reason,
        result="exported",
    )
    mp = MARKETPLACE_DB
    threads = MessageThread.objects.using(mp).filter(buyer_id=user.pk)
    export = {
        "marketplace_user": _rows([user])[0],
        "providers": _rows(Provider.all_objects.using(mp).filter(user_id=user.pk)),
        "purchases": _rows(MarketplaceTransaction.objects.using(mp).filter(client_id=user.pk).order_by("pk")),
        "marketplace_invoices": _rows(
            MarketplaceInvoice.objects.using(mp).filter(transaction__client_id=user.pk).order_by("pk")
        ),
        "threads": _rows(threads.order_by("pk")),
        "messages_sent": _rows(Message.objects.using(mp).filter(sender_id=user.pk).order_by("created_at")),
        "blocked_by_providers": _rows(UserBlock.objects.using(mp).filter(blocked_user_id=user.pk).order_by("pk")),
    }
    contact_ids = list(
        CrossDbReference.objects.using(TENANT_DB)
        .filter(source_table=Contact._meta.db_table, target_table=MarketplaceUser._meta.db_table, target_id=user.pk)
        .values_list("source_id", flat=True)
    )
    with system_read_context(job="personal_data_export", user_id=staff_user_id):
        contacts = list(Contact.all_objects.filter(pk__in=contact_ids).order_by("pk"))
        invoices = list(Invoice.all_objects.filter(contact_id__in=contact_ids).order_by("pk"))
        export["tenant_contacts"] = _rows(contacts)
        export["tenant_invoices"] = _rows(invoices, exclude=("buyer_payment_receipt",))
    return export
