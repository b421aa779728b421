"""Thin tasks: take ids, enter the tenant context, call one service. Safe to run twice."""

from __future__ import annotations

from breederhq.databases import TENANT_DB
from breederhq.jobs.scheduled import scheduled_job
from breederhq.tenancy import tenant_context


@scheduled_job("tenant_app.tasks.expire_pending_confirmations")
def expire_pending_confirmations(tenant_id: int | None = None) -> int:
    """Send unconfirmed manual-payment claims older than 7 days back to `sent`.

    With no tenant_id (the beat job) it visits every tenant in turn, each in its own context and
    transaction: RLS allows no other way to see a tenant's invoices.
    """
    from tenant_app.models import Tenant
    from tenant_app.services import invoice_expire_pending_confirmations

    tenant_ids = (
        [tenant_id] if tenant_id is not None else list(Tenant.objects.order_by("id").values_list("id", flat=True))
    )
    expired = 0
    for tid in tenant_ids:
        with tenant_context(tid, using=TENANT_DB):
            expired += len(invoice_expire_pending_confirmations())
    return expired


@scheduled_job("tenant_app.tasks.purge_deleted_contacts")
def purge_deleted_contacts() -> list[int]:
    from tenant_app.lifecycle import contact_purge_deleted

    return contact_purge_deleted()


@scheduled_job("tenant_app.tasks.purge_account_tokens")
def purge_account_tokens() -> int:
    """Beat: delete used, voided and expired account tokens past their retention (in batches)."""
    from tenant_app.account_tokens import account_tokens_purge

    return account_tokens_purge()
