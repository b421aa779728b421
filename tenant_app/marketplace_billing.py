"""A breeder bills one of its marketplace sales with a tenant invoice: the one invoice of that
transaction (docs/architecture/marketplace.md, "Single invoice per transaction").

The invoice lives in the tenant database, the transaction in the marketplace one. The sale's row is
locked first (`SELECT ... FOR UPDATE` on the marketplace database) and held until the invoice exists
and the sale points at it, so a second attempt waits and then finds the sale invoiced: 409
`already_invoiced`, whatever its Idempotency-Key. The single-invoice rule itself stays where it is
(`marketplace_app.services.transactions._attach_invoice_locked`); this only orders the two writes:

1. marketplace: lock the sale; check the seller is this tenant, the sale is still to be invoiced;
2. tenant: create the draft invoice (its own transaction, committed);
3. marketplace: point the sale at it and commit.

If step 3 fails, the draft of step 2 is deleted again (a draft may be), so a failure leaves no
invoice behind and the sale still to be invoiced. Sending the invoice is the usual
`PATCH /api/v1/invoices/{id}/ {"action": "send"}`.
"""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, NotFound, ValidationFailed
from breederhq.tenancy import require_tenant_id
from tenant_app import selectors, services
from tenant_app.models import Contact, Invoice, User

logger = logging.getLogger(__name__)

MARKETPLACE = MARKETPLACE_DB


def _sale_locked(transaction_id: int, tenant_id: int):
    """The sale, locked, if this tenant is its seller; otherwise it does not exist (for this tenant)."""
    from marketplace_app.models import MarketplaceTransaction, Provider

    tx = MarketplaceTransaction.objects.using(MARKETPLACE).select_for_update().filter(pk=transaction_id).first()
    seller = (
        None
        if tx is None
        else Provider.all_objects.using(MARKETPLACE).filter(pk=tx.provider_id).values_list("kind", "tenant_id").first()
    )
    if seller is None or seller != (Provider.Kind.BREEDER, tenant_id):
        raise NotFound(f"Transaction {transaction_id} not found.")
    if tx.invoice_id is not None:
        raise Conflict(
            f"Transaction #{tx.pk} already has a {tx.invoice_type} invoice #{tx.invoice_id}.",
            code="already_invoiced",
            extra={"invoice_type": tx.invoice_type, "invoice_id": tx.invoice_id},
        )
    from marketplace_app.models import TRANSACTION_STATES

    TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.INVOICED)  # cancelled, paid: 409
    return tx


def _buyer_contact(tx, *, tenant_id: int, contact_id: int | None) -> int:
    """The contact billed: the one named (it must not be linked to another marketplace person), else
    the tenant's contact linked to the buyer, else a new contact linked to the buyer."""
    if contact_id is not None:
        contact = (
            Contact.objects.filter(tenant_id=tenant_id, pk=contact_id).values_list("pk", "marketplace_user_id").first()
        )
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        if contact[1] not in (None, tx.client_id):
            raise ValidationFailed(
                "That contact is another marketplace person, not this sale's buyer.",
                field_errors={"contact_id": ["linked to someone else"]},
                code="contact_not_buyer",
            )
        return contact[0]
    linked = selectors.contact_get_by_marketplace_user(tenant_id=tenant_id, marketplace_user_id=tx.client_id)
    if linked is not None:
        return linked.pk
    buyer = tx.client
    return services.contact_create(
        first_name=buyer.display_name[:100], email=buyer.email, marketplace_user_id=buyer.pk
    ).pk


def breeder_sale_invoice_create(
    *,
    transaction_id: int,
    actor: User | None,
    lines: list[services.LineInput] | None = None,
    tax_cents: int = 0,
    notes: str = "",
    due_date: date | None = None,
    contact_id: int | None = None,
) -> Invoice:
    """The draft tenant invoice of the current tenant's marketplace sale `transaction_id`, attached
    to it. Without `lines`: one line, the sale's description at its amount. The currency is the sale's."""
    from marketplace_app.services.transactions import _attach_invoice_locked

    tenant_id = require_tenant_id(using=TENANT_DB)
    created: Invoice | None = None
    try:
        with transaction.atomic(using=MARKETPLACE):
            tx = _sale_locked(transaction_id, tenant_id)
            tx = type(tx).objects.using(MARKETPLACE).select_related("client").get(pk=tx.pk)
            contact = _buyer_contact(tx, tenant_id=tenant_id, contact_id=contact_id)
            created = services.invoice_create(
                contact_id=contact,
                currency=tx.currency,
                tax_cents=tax_cents,
                notes=notes,
                due_date=due_date,
                is_marketplace_invoice=True,
                actor=actor,
                lines=lines or [services.LineInput(tx.description or f"Marketplace sale #{tx.pk}", tx.amount_cents)],
            )
            _attach_invoice_locked(tx, invoice_type="tenant", invoice_id=created.pk)
    except BaseException:
        if created is not None:
            _discard(created, actor=actor)
        raise
    return created


def _discard(invoice: Invoice, *, actor: User | None) -> None:
    """The sale could not be pointed at the new draft: delete the draft, so nothing is left half done."""
    try:
        services.invoice_delete(invoice_id=invoice.pk, actor=actor)
    except Exception:  # logged for staff: a draft marked as a marketplace invoice that no sale points at
        logger.exception("could not delete draft invoice %s after its sale failed to attach", invoice.pk)
