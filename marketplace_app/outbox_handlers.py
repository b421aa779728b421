"""Effects in the marketplace database of changes made in the tenant database (breederhq.outbox).

Each runs inside the relay's marketplace transaction, together with the applied-message record,
so a message applied twice has one effect.
"""

from breederhq.databases import MARKETPLACE_DB
from breederhq.outbox import outbox_handler
from marketplace_app import services
from marketplace_app.models import MarketplaceTransaction


class TransactionNotLinkedYet(LookupError):
    """The tenant invoice is paid but no transaction points at it yet: retried with backoff, and
    visible as stuck (crossdb_check) if it never appears."""


def _billed_transaction(payload: dict) -> int:
    tx_id = (
        MarketplaceTransaction.objects.using(MARKETPLACE_DB)
        .filter(invoice_type=MarketplaceTransaction.InvoiceType.TENANT, invoice_id=payload["invoice_id"])
        .values_list("pk", flat=True)
        .first()
    )
    if tx_id is None:
        raise TransactionNotLinkedYet(f"no marketplace transaction bills tenant invoice #{payload['invoice_id']}")
    return tx_id


@outbox_handler("tenant.invoice_paid", applies_in=MARKETPLACE_DB)
def mark_transaction_paid(payload: dict) -> None:
    tx_id = _billed_transaction(payload)
    # Idempotent, and never moves a refunded or disputed transaction backwards.
    services.transaction_mark_paid(transaction_id=tx_id)


@outbox_handler("tenant.user_deleted", applies_in=MARKETPLACE_DB)
def close_identities_of_deleted_user(payload: dict) -> None:
    from marketplace_app.tenant_users import tenant_user_deleted

    tenant_user_deleted(tenant_user_id=payload["user_id"])


@outbox_handler("tenant.invoice_refunded", applies_in=MARKETPLACE_DB)
def record_transaction_refund(payload: dict) -> None:
    """The breeder refunded (part of) the sale's invoice: the purchase shows what was refunded in
    total. A transaction not paid here yet refuses (illegal transition) and the relay retries."""
    services.transaction_refund_to(
        transaction_id=_billed_transaction(payload), refunded_cents=payload["refunded_cents"]
    )
