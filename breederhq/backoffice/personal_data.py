"""Everything the platform holds on one person, as JSON (issue 10, subject access requests).

A marketplace user: their profile, providers, purchases, marketplace invoices, threads and the
messages they sent, blocks — and, across every tenant, the contacts linked to them with the invoices
addressed to those contacts (read through the audited system read context; tenant tables force RLS).
Erasure is `marketplace_app.services.marketplace_user_erase` (anonymise, soft delete, outbox unlinks
the tenants' contacts); financial records keep their amounts.
"""

from __future__ import annotations

from django.db import transaction

from breederhq.backoffice.models import StaffActionAudit
from breederhq.errors import NotFound
from breederhq.models import CrossDbReference
from breederhq.tenancy import system_read_context


def _rows(rows, *, exclude=()) -> list[dict]:
    """Each row's columns, JSON-ready (dates, decimals and files as strings)."""
    return [
        {f.attname: (v if isinstance(v := getattr(row, f.attname), (int, str, bool, type(None), list, dict)) else str(v))
         for f in row._meta.concrete_fields if f.name not in exclude}
        for row in rows
    ]


def export_marketplace_user(*, marketplace_user_id: int, staff_username: str, reason: str) -> dict:
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

    user = MarketplaceUser.all_objects.using("marketplace").filter(pk=marketplace_user_id).first()
    if user is None:
        raise NotFound(f"No marketplace user #{marketplace_user_id}.")
    with transaction.atomic(using="default"):
        StaffActionAudit.objects.using("default").create(
            actor_id=0, actor_username=staff_username, action="export_personal_data",
            target_model="marketplace_app.MarketplaceUser", target_database="marketplace",
            target_id=str(marketplace_user_id), reason=reason, result="exported",
        )
    mp = "marketplace"
    threads = MessageThread.objects.using(mp).filter(buyer_id=user.pk)
    export = {
        "marketplace_user": _rows([user])[0],
        "providers": _rows(Provider.all_objects.using(mp).filter(user_id=user.pk)),
        "purchases": _rows(MarketplaceTransaction.objects.using(mp).filter(client_id=user.pk).order_by("pk")),
        "marketplace_invoices": _rows(
            MarketplaceInvoice.objects.using(mp).filter(transaction__client_id=user.pk).order_by("pk")),
        "threads": _rows(threads.order_by("pk")),
        "messages_sent": _rows(Message.objects.using(mp).filter(sender_id=user.pk).order_by("created_at")),
        "blocked_by_providers": _rows(UserBlock.objects.using(mp).filter(blocked_user_id=user.pk).order_by("pk")),
    }
    contact_ids = list(
        CrossDbReference.objects.using("default")
        .filter(source_table=Contact._meta.db_table, target_table=MarketplaceUser._meta.db_table,
                target_id=user.pk)
        .values_list("source_id", flat=True)
    )
    with system_read_context(job="personal_data_export"):
        contacts = list(Contact.all_objects.filter(pk__in=contact_ids).order_by("pk"))
        invoices = list(Invoice.all_objects.filter(contact_id__in=contact_ids).order_by("pk"))
        export["tenant_contacts"] = _rows(contacts)
        export["tenant_invoices"] = _rows(invoices, exclude=("buyer_payment_receipt",))
    return export
