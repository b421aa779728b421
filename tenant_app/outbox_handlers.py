"""Effects in the tenant database of changes made in the marketplace database (breederhq.outbox).

Tenant tables force row-level security, so each handler enters the tenant context named in the
message (writes), or the audited system read context to find which tenants are concerned.
"""

import logging

from breederhq.databases import TENANT_DB
from breederhq.models import CrossDbReference
from breederhq.outbox import outbox_handler
from breederhq.tenancy import system_read_context, tenant_context
from tenant_app import services
from tenant_app.models import Contact, Invoice, InvoiceStatus

logger = logging.getLogger(__name__)
VOIDABLE = {InvoiceStatus.DRAFT, InvoiceStatus.SENT}


@outbox_handler("marketplace.transaction_cancelled", applies_in=TENANT_DB)
def void_unpaid_invoice(payload: dict) -> None:
    with tenant_context(payload["tenant_id"]):
        invoice = Invoice.all_objects.select_for_update().filter(pk=payload["invoice_id"]).first()
        if invoice is None or invoice.status == InvoiceStatus.VOID:
            return
        if invoice.status not in VOIDABLE:
            # Paid, or the buyer says they paid: a human decides (refund or confirm), not the relay.
            logger.warning(
                "transaction %s cancelled but tenant invoice %s is %s; left as is",
                payload["transaction_id"],
                invoice.pk,
                invoice.status,
            )
            return
        services.invoice_void(
            invoice_id=invoice.pk, reason=f"marketplace transaction #{payload['transaction_id']} cancelled"
        )


@outbox_handler("marketplace.user_erased", applies_in=TENANT_DB)
def unlink_contacts(payload: dict) -> None:
    marketplace_user_id = payload["marketplace_user_id"]
    # The registry says which contacts point at the person; their tenants need a system read.
    contact_ids = list(
        CrossDbReference.objects.using(TENANT_DB)
        .filter(source_table=Contact._meta.db_table, target_table="marketplace_users", target_id=marketplace_user_id)
        .values_list("source_id", flat=True)
    )
    if not contact_ids:
        return
    with system_read_context(job="outbox:marketplace.user_erased"):
        by_tenant = list(Contact.all_objects.filter(pk__in=contact_ids).values_list("tenant_id", "pk"))
    for tenant_id, contact_id in by_tenant:
        with tenant_context(tenant_id):
            contact = Contact.all_objects.select_for_update().get(pk=contact_id)
            if contact.marketplace_user_id == marketplace_user_id:
                contact.marketplace_user_id = None
                # The mixin's save drops the registry row in the same transaction.
                contact.save(using=TENANT_DB, update_fields=["marketplace_user_id", "updated_at"])
