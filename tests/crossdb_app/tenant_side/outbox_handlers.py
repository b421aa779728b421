from breederhq.databases import TENANT_DB
from breederhq.outbox import outbox_handler
from tests.crossdb_app.tenant_side.models import Contact, Effect, Invoice


@outbox_handler("crossdb_test.transaction_cancelled", applies_in=TENANT_DB)
def void_unpaid_invoice(payload: dict) -> None:
    invoice = Invoice.all_objects.using(TENANT_DB).select_for_update().filter(pk=payload["invoice_id"]).first()
    if invoice is not None and invoice.status == Invoice.Status.SENT:
        invoice.status = Invoice.Status.VOID
        invoice.save(update_fields=["status"])
    Effect.objects.using(TENANT_DB).create(kind="transaction_cancelled", object_id=payload["transaction_id"])


@outbox_handler("crossdb_test.member_erased", applies_in=TENANT_DB)
def unlink_contacts(payload: dict) -> None:
    contacts = Contact.objects.using(TENANT_DB).select_for_update().filter(marketplace_member_id=payload["member_id"])
    for contact in contacts:
        contact.marketplace_member_id = None
        contact.save(update_fields=["marketplace_member_id"])  # keeps the registry true
    Effect.objects.using(TENANT_DB).create(kind="member_erased", object_id=payload["member_id"])
