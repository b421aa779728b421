"""Breeder sales across both databases (a Sunny tenant invoice for a marketplace transaction, through the
outbox both ways) and the PDFs of every issued invoice."""

from __future__ import annotations

from breederhq.databases import MARKETPLACE_DB
from demo.base import in_tenant


def breeder_sale(tenant, owner, contact, breeder, buyer, *, key: str, line: tuple[str, int]):
    """A marketplace transaction billed with a Sunny tenant invoice (sent); returns (tx, invoice),
    or None when it exists already."""
    from breederhq.tenancy import tenant_context
    from marketplace_app import services as market
    from tenant_app import services
    from tenant_app.models import Invoice

    if in_tenant(tenant, lambda: Invoice.all_objects.filter(notes=key).exists()):
        return None
    tx = market.transaction_create(
        provider_id=breeder.pk, client_id=buyer.pk, amount_cents=line[1], description=line[0]
    )
    with tenant_context(tenant.pk):
        invoice = services.invoice_create(
            contact_id=contact.pk,
            notes=key,
            actor=owner,
            is_marketplace_invoice=True,
            lines=[services.LineInput(line[0], line[1])],
        )
    market.transaction_attach_invoice(transaction_id=tx.pk, invoice_type="tenant", invoice_id=invoice.pk)
    with tenant_context(tenant.pk):
        invoice = services.invoice_send(invoice_id=invoice.pk, actor=owner)
    return tx, invoice


def breeder_sales(tenant, owner, contact, breeder, buyer) -> None:
    """The outbox both ways, relayed: a paid tenant invoice marks its marketplace transaction paid
    (tenant DB -> marketplace DB), a cancelled transaction voids its unpaid tenant invoice
    (marketplace DB -> tenant DB)."""
    from django.core.files.base import ContentFile

    from breederhq.outbox import outbox_relay_due
    from breederhq.tenancy import tenant_context
    from marketplace_app import services as market
    from tenant_app import services

    paid = breeder_sale(
        tenant,
        owner,
        contact,
        breeder,
        buyer,
        key="demo:breeder-sale-paid",
        line=("Golden Retriever puppy (litter B)", 250_000),
    )
    if paid is not None:
        with tenant_context(tenant.pk):
            services.invoice_buyer_mark_paid(
                invoice_id=paid[1].pk,
                reference="transfer demo:breeder-sale",
                receipt=ContentFile(b"Demo bank transfer receipt", name="receipt.txt"),
            )
            services.invoice_confirm_payment(invoice_id=paid[1].pk, actor=owner, reference="transfer demo:breeder-sale")
    cancelled = breeder_sale(
        tenant,
        owner,
        contact,
        breeder,
        buyer,
        key="demo:breeder-sale-cancelled",
        line=("Labrador puppy reservation", 50_000),
    )
    if cancelled is not None:
        market.transaction_cancel(transaction_id=cancelled[0].pk)
    outbox_relay_due()


def invoice_documents(tenant) -> None:
    """The PDFs a worker renders after each invoice is sent (rendered here, as the demo runs no worker)."""
    from breederhq.invoicing.documents import DocumentNotIssued, document_ensure, invoice_ref
    from breederhq.invoicing.status import InvoiceStatus
    from marketplace_app.models import MarketplaceInvoice
    from tenant_app.models import Invoice

    issued = [
        ("tenant_invoice", invoice)
        for invoice in in_tenant(tenant, lambda: list(Invoice.objects.exclude(status=InvoiceStatus.DRAFT)))
    ]
    issued += [
        ("marketplace_invoice", invoice)
        for invoice in MarketplaceInvoice.objects.using(MARKETPLACE_DB).exclude(status=InvoiceStatus.DRAFT)
    ]
    for kind, invoice in issued:
        try:
            document_ensure(invoice_ref(kind, invoice))
        except DocumentNotIssued:  # voided before it was ever sent
            continue
