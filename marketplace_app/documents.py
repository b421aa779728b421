"""The marketplace kind's documents (breederhq/invoicing/documents.py): what a service provider's
invoice prints, and the credit note of each of its refunds.

A marketplace refund has no credit-note row of its own: it is the invoice's `refunded_cents` and one
`refunded` audit row (append-only) carrying the amount. Its credit note renders that audit row and
is numbered after the invoice and the refund's place among the invoice's refunds:
`MP-7-000001-CN1`, `-CN2`, ... (stable: audit rows are never changed or removed).
"""

from __future__ import annotations

from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound
from breederhq.invoicing.document_text import day, lines_of, party_lines, payment_instructions
from breederhq.invoicing.documents import DocumentNotIssued, DocumentRef, DocumentSource
from breederhq.invoicing.models import DocumentKind
from breederhq.invoicing.pdf import DocumentData, DocumentLine, Party
from marketplace_app.models import MarketplaceInvoice, MarketplaceInvoiceAuditLog, MarketplaceInvoiceDocument

DB = MARKETPLACE_DB


def _seller(provider) -> Party:
    user = provider.user
    return Party(
        provider.business_name,
        party_lines(
            city=provider.city, region=provider.state, country=provider.country, email=user.email, phone=user.phone
        ),
    )


def _buyer(client) -> Party:
    return Party(client.display_name, party_lines(email=client.email, phone=client.phone))


class MarketplaceDocuments(DocumentSource):
    name = "marketplace_invoice"
    using = DB
    model = MarketplaceInvoiceDocument

    def folder(self, ref: DocumentRef) -> str:
        return f"marketplace/documents/{ref.invoice_id}"

    def credit_note_source_id(self, invoice, *, audit_entry, metadata: dict) -> int | None:
        return audit_entry.pk if audit_entry is not None else None

    def _invoice(self, ref: DocumentRef) -> MarketplaceInvoice:
        invoice = (
            MarketplaceInvoice.objects.using(DB)
            .filter(pk=ref.invoice_id)
            .select_related("provider__user", "client")
            .first()
        )
        if invoice is None:
            raise NotFound(f"MarketplaceInvoice #{ref.invoice_id} does not exist")
        if invoice.sent_at is None:
            raise DocumentNotIssued(f"Invoice {invoice.invoice_number} was never sent: it has no document.")
        return invoice

    def document_data(self, ref: DocumentRef) -> DocumentData:
        invoice = self._invoice(ref)
        seller = _seller(invoice.provider)
        if ref.document == DocumentKind.CREDIT_NOTE:
            return self._credit_note(invoice, seller, ref.source_id)
        contact = ", ".join(part for part in (invoice.provider.user.email, invoice.provider.user.phone) if part)
        return DocumentData(
            kind=DocumentKind.INVOICE,
            number=invoice.invoice_number,
            currency=invoice.currency,
            seller=seller,
            buyer=_buyer(invoice.client),
            issue_date=day(invoice.sent_at),
            due_date=invoice.due_date,
            lines=lines_of(invoice.line_items.using(DB).order_by("sort_order", "id")),
            subtotal_cents=invoice.subtotal_cents,
            tax_cents=invoice.tax_cents,
            total_cents=invoice.total_cents,
            references=(f"Marketplace purchase #{invoice.transaction_id}",),
            notes=(
                (
                    "Payment",
                    payment_instructions(
                        mode=invoice.payment_mode_snapshot,
                        seller=seller.name,
                        number=invoice.invoice_number,
                        contact=contact,
                    ),
                ),
            ),
        )

    def _credit_note(self, invoice: MarketplaceInvoice, seller: Party, audit_id: int) -> DocumentData:
        refunds = list(
            MarketplaceInvoiceAuditLog.objects.using(DB)
            .filter(invoice_id=invoice.pk, action="refunded")
            .order_by("id")
            .values_list("pk", "changed_at", "metadata")
        )
        position = next((index for index, row in enumerate(refunds, 1) if row[0] == audit_id), None)
        if position is None:
            raise NotFound(f"Refund {audit_id} of invoice {invoice.invoice_number} not found.")
        _, changed_at, metadata = refunds[position - 1]
        amount = int(metadata["amount_cents"])
        return DocumentData(
            kind=DocumentKind.CREDIT_NOTE,
            number=f"{invoice.invoice_number}-CN{position}",
            currency=invoice.currency,
            seller=seller,
            buyer=_buyer(invoice.client),
            issue_date=day(changed_at),
            lines=(DocumentLine(f"Credit against invoice {invoice.invoice_number}", 1, amount, amount),),
            subtotal_cents=None,
            tax_cents=None,
            total_cents=amount,
            references=(f"Credits invoice {invoice.invoice_number} of {day(invoice.sent_at).isoformat()}",),
        )


MARKETPLACE_DOCUMENTS = MarketplaceDocuments()
