"""Soft delete of marketplace invoices: the row is a cross-database reference target (the tenant
database's payment rows and this database's transactions point at it), so it is never hard-deleted.

`marketplace_invoice_delete` is the one way: only a draft or a void invoice (a CHECK says so too),
at the version the caller read, with an audit row, and the outbox message
`marketplace.invoice_deleted` in the same transaction, so the tenant database closes a Stripe
payment row that was never opened. `MarketplaceInvoice.delete()` and `QuerySet.delete()` go through
it; references keep resolving, marked deleted (breederhq/crossdb.py).
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone

from breederhq.crossdb import SoftDeleteManager, SoftDeleteQuerySet
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import Conflict
from breederhq.invoicing.status import InvoiceStatus
from breederhq.outbox import outbox_enqueue

DB = MARKETPLACE_DB
DELETABLE = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)


def marketplace_invoice_delete(
    *, invoice_id: int, expected_version: int | None = None, actor_id: int | None = None, actor_label: str = ""
):
    """Soft-delete a draft or void invoice (409 `invoice_issued` otherwise). Deleting it again
    changes nothing."""
    from marketplace_app.models import MarketplaceInvoice
    from marketplace_app.services.invoices import _change, _check_version, _lock_invoice

    with transaction.atomic(using=DB):
        gone = (
            MarketplaceInvoice.all_objects.using(DB)
            .select_for_update()
            .filter(pk=invoice_id, deleted_at__isnull=False)
            .first()
        )
        if gone is not None:
            return gone
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status not in DELETABLE:
            raise Conflict(
                f"Invoice {invoice.invoice_number} is {invoice.status}: void it before deleting it.",
                code="invoice_issued",
            )
        _change(
            invoice, action="deleted", fields={"deleted_at": timezone.now()}, actor=actor_id, actor_label=actor_label
        )
        outbox_enqueue(using=DB, topic="marketplace.invoice_deleted", payload={"invoice_id": invoice.pk})
    return invoice


class MarketplaceInvoiceQuerySet(SoftDeleteQuerySet):
    def delete(self):
        """Soft delete, each row through `marketplace_invoice_delete` (rule, audit, outbox)."""
        pks = list(self.filter(deleted_at__isnull=True).values_list("pk", flat=True))
        for pk in pks:
            marketplace_invoice_delete(invoice_id=pk, actor_label="system:queryset_delete")
        return len(pks)

    delete.queryset_only = True


class MarketplaceInvoiceManager(SoftDeleteManager.from_queryset(MarketplaceInvoiceQuerySet)):
    """The default manager: hides soft-deleted invoices."""


#: Every invoice, soft-deleted ones included (resolvers, admin, the check).
MarketplaceInvoiceAllObjects = models.Manager.from_queryset(MarketplaceInvoiceQuerySet)
