"""Data lifecycle for the tenant database.

Policy: a soft-deleted contact is purged after `CONTACT_RETENTION` when no invoice was ever
addressed to it (invoices are the ledger: they and their contacts are kept, soft-deleted at most)
and nothing in the other database points at it. Invoices, payments, credit notes and audit rows are
never purged. Candidates are found through the audited system read context; each deletion runs in
its tenant's context (row-level security).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from breederhq.crossdb import referencing_rows
from breederhq.databases import TENANT_DB
from breederhq.tenancy import system_read_context, tenant_context
from tenant_app.models import Contact, Invoice

CONTACT_RETENTION = timedelta(days=2 * 365)


def contact_purge_deleted(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    cutoff = (now or timezone.now()) - CONTACT_RETENTION
    with system_read_context(job="contact_purge_deleted"):
        candidates = list(
            Contact.all_objects.filter(deleted_at__lt=cutoff)
            .exclude(Exists(Invoice.all_objects.filter(contact_id=OuterRef("pk"))))
            .order_by("pk")
            .values_list("tenant_id", "pk")[:limit]
        )
    purged = []
    for tenant_id, contact_id in candidates:
        if referencing_rows(Contact, contact_id):
            continue
        with tenant_context(tenant_id):
            contact = Contact.all_objects.select_for_update().filter(pk=contact_id, deleted_at__lt=cutoff).first()
            if contact is None or Invoice.all_objects.filter(contact_id=contact_id).exists():
                continue  # restored, or invoiced, since we looked
            contact.hard_delete(using=TENANT_DB)
        purged.append(contact_id)
    return purged
