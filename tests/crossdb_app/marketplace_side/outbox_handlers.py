from breederhq.databases import MARKETPLACE_DB
from breederhq.outbox import outbox_handler
from tests.crossdb_app.marketplace_side.models import Effect, Transaction


@outbox_handler("crossdb_test.invoice_paid", applies_in=MARKETPLACE_DB)
def mark_transactions_paid(payload: dict) -> None:
    # Lock, re-check, act: a transaction cancelled meanwhile stays cancelled.
    pending = (
        Transaction.all_objects.using(MARKETPLACE_DB)
        .select_for_update()
        .filter(
            invoice_type=Transaction.InvoiceType.TENANT,
            invoice_id=payload["invoice_id"],
            status=Transaction.Status.PENDING,
        )
    )
    for txn in pending:
        txn.status = Transaction.Status.PAID
        txn.save(update_fields=["status"])
    Effect.objects.using(MARKETPLACE_DB).create(kind="invoice_paid", object_id=payload["invoice_id"])
