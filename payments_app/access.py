"""Reaching the two payment tables under row-level security (`invoice_payments`,
`stripe_connect_accounts`, keyed by `owner_tenant_id`).

A row is read and written in its owner's context: `tenant_context(owner)` for a tenant's row,
`platform_context()` for a row with no owner (a marketplace invoice's payment, a service provider's
account); `breederhq.tenancy.owner_context` picks one. Code that must find a row before it knows
the owner (the webhook worker, the sweeps, reconciliation) finds it with an audited
`system_read_context` (SELECT only: one `cross_tenant_query_audit` row per use), then loads, locks
and writes it in the owner's context. Nothing bypasses the policy.
"""

from __future__ import annotations

from django.db import models

from breederhq.databases import TENANT_DB
from breederhq.invoicing.lifecycle import invoice_kind as invoice_kind_of
from breederhq.tenancy import current_tenant_id, owner_context, system_read_context
from payments_app.models import InvoicePayment, StripeConnectAccount

__all__ = ["InvoicePayment", "StripeConnectAccount", "invoice_owner", "locate", "owner_context", "owner_of"]


def owner_of(model: type[models.Model], *, job: str, **filters) -> tuple[int, int | None] | None:
    """(pk, owner_tenant_id) of the first row matching `filters`, found across tenants through the
    audited system read; None when there is none."""
    with system_read_context(job=job):
        return model.objects.using(TENANT_DB).filter(**filters).values_list("pk", "owner_tenant_id").first()


def locate(model: type[models.Model], *, job: str, lock: bool = False, **filters):
    """The row matching `filters` whatever its tenant: found through the audited system read, then
    loaded (locked with `lock`, for the caller's transaction) in its owner's context. None if none."""
    found = owner_of(model, job=job, **filters)
    if found is None:
        return None
    pk, owner = found
    with owner_context(owner):
        rows = model.objects.using(TENANT_DB)
        if lock:
            rows = rows.select_for_update()
        return rows.filter(pk=pk).first()


def invoice_owner(*, invoice_kind: str, invoice_id: int, tenant_id: int | None = None, job: str) -> int | None:
    """The owner of an invoice's payment row: None (the platform) for a marketplace invoice; the
    tenant given, else the tenant of the current context, else the one the audited system read
    finds (None when the row does not exist: the platform context then sees no tenant row)."""
    if not invoice_kind_of(invoice_kind).tenant_owned:
        return None
    if tenant_id is not None:
        return tenant_id
    current = current_tenant_id(using=TENANT_DB)
    if current is not None:
        return current
    found = owner_of(InvoicePayment, job=job, invoice_kind=invoice_kind, invoice_id=invoice_id)
    return found[1] if found is not None else None
