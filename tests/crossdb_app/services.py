"""The three cross-database flows in miniature, written as the real services will be: one
transaction on the source database, the outbox row written inside it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import IllegalTransition, NotFound
from breederhq.outbox import outbox_enqueue
from tests.crossdb_app.marketplace_side.models import Member, Transaction
from tests.crossdb_app.tenant_side.models import Invoice

INVOICE_PAID = "crossdb_test.invoice_paid"
TRANSACTION_CANCELLED = "crossdb_test.transaction_cancelled"
MEMBER_ERASED = "crossdb_test.member_erased"


def invoice_mark_paid(*, invoice_id: int) -> Invoice:
    """Tenant invoice paid -> the marketplace transactions pointing at it become paid."""
    with transaction.atomic(using=TENANT_DB):
        invoice = Invoice.objects.using(TENANT_DB).select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound(f"invoice {invoice_id}")
        if invoice.status == Invoice.Status.PAID:
            return invoice
        if invoice.status != Invoice.Status.SENT:
            raise IllegalTransition(entity="Invoice", current=invoice.status, target="paid", allowed=["void"])
        invoice.status = Invoice.Status.PAID
        invoice.save(update_fields=["status"])
        outbox_enqueue(using=TENANT_DB, topic=INVOICE_PAID, payload={"invoice_id": invoice.pk})
    return invoice


def transaction_cancel(*, transaction_id: int) -> Transaction:
    """Marketplace transaction cancelled -> its tenant invoice is voided when still unpaid."""
    with transaction.atomic(using=MARKETPLACE_DB):
        txn = Transaction.objects.using(MARKETPLACE_DB).select_for_update().filter(pk=transaction_id).first()
        if txn is None:
            raise NotFound(f"transaction {transaction_id}")
        if txn.status == Transaction.Status.CANCELLED:
            return txn
        if txn.status != Transaction.Status.PENDING:
            raise IllegalTransition(entity="Transaction", current=txn.status, target="cancelled")
        txn.status = Transaction.Status.CANCELLED
        txn.save(update_fields=["status"])
        if txn.invoice_type == Transaction.InvoiceType.TENANT and txn.invoice_id is not None:
            outbox_enqueue(
                using=MARKETPLACE_DB,
                topic=TRANSACTION_CANCELLED,
                payload={"invoice_id": txn.invoice_id, "transaction_id": txn.pk},
            )
    return txn


def member_erase(*, member_id: int) -> Member:
    """Marketplace member erased -> tenant contacts pointing at it are unlinked."""
    with transaction.atomic(using=MARKETPLACE_DB):
        member = Member.all_objects.using(MARKETPLACE_DB).select_for_update().filter(pk=member_id).first()
        if member is None:
            raise NotFound(f"member {member_id}")
        if member.erased_at is not None:
            return member
        member.erased_at = timezone.now()
        member.email = f"erased-{member.pk}@invalid"
        member.deleted_at = member.deleted_at or member.erased_at
        member.save(update_fields=["erased_at", "email", "deleted_at"])
        outbox_enqueue(using=MARKETPLACE_DB, topic=MEMBER_ERASED, payload={"member_id": member.pk})
    return member
