"""The tenant kind's documents (breederhq/invoicing/documents.py): what a breeder's invoice and its
credit notes print, read in the invoice's tenant context (row-level security)."""

from __future__ import annotations

from breederhq.databases import TENANT_DB
from breederhq.errors import NotFound
from breederhq.invoicing.document_text import day, lines_of, party_lines, payment_instructions
from breederhq.invoicing.documents import DocumentNotIssued, DocumentRef, DocumentSource
from breederhq.invoicing.lifecycle import PAYMENT_METHOD_WORDS
from breederhq.invoicing.models import DocumentKind
from breederhq.invoicing.pdf import DocumentData, DocumentLine, Party
from breederhq.tenancy import tenant_context
from tenant_app.models import CreditNote, Invoice, InvoiceDocument, Payment


def _seller(tenant) -> Party:
    return Party(
        tenant.name,
        party_lines(
            address=(tenant.address_line1, tenant.address_line2),
            city=tenant.city,
            region=tenant.region,
            postal_code=tenant.postal_code,
            country=tenant.country,
            email=tenant.contact_email,
            phone=tenant.phone,
        ),
    )


def _buyer(contact) -> Party:
    return Party(
        contact.display_name,
        party_lines(
            address=(contact.address_line1, contact.address_line2),
            city=contact.city,
            region=contact.region,
            postal_code=contact.postal_code,
            country=contact.country,
            email=contact.email,
            phone=contact.phone,
        ),
    )


class TenantDocuments(DocumentSource):
    name = "tenant_invoice"
    using = TENANT_DB
    model = InvoiceDocument

    def owner_of(self, invoice) -> int:
        return invoice.tenant_id

    def context(self, owner):
        return tenant_context(owner, using=self.using)

    def row_columns(self, ref: DocumentRef) -> dict:
        return {"tenant_id": ref.owner}

    def folder(self, ref: DocumentRef) -> str:
        return f"tenants/{ref.owner}/documents/{ref.invoice_id}"

    def credit_note_source_id(self, invoice, *, audit_entry, metadata: dict) -> int | None:
        number = metadata.get("credit_note")
        if not number:
            return None
        return (
            CreditNote.objects.filter(tenant_id=invoice.tenant_id, invoice_id=invoice.pk, credit_note_number=number)
            .values_list("pk", flat=True)
            .first()
        )

    def _invoice(self, ref: DocumentRef) -> Invoice:
        invoice = (
            Invoice.all_objects.filter(tenant_id=ref.owner, pk=ref.invoice_id)
            .select_related("tenant", "contact", "replaces")
            .first()
        )
        if invoice is None:
            raise NotFound(f"Invoice {ref.invoice_id} not found.")
        if invoice.sent_at is None:
            raise DocumentNotIssued(f"Invoice {invoice.invoice_number} was never sent: it has no document.")
        return invoice

    def document_data(self, ref: DocumentRef) -> DocumentData:
        invoice = self._invoice(ref)
        if ref.document == DocumentKind.CREDIT_NOTE:
            return self._credit_note(invoice, ref.source_id)
        seller = _seller(invoice.tenant)
        contact = ", ".join(part for part in (invoice.tenant.contact_email, invoice.tenant.phone) if part)
        return DocumentData(
            kind=DocumentKind.INVOICE,
            number=invoice.invoice_number,
            currency=invoice.currency,
            seller=seller,
            buyer=_buyer(invoice.contact),
            issue_date=day(invoice.sent_at),
            due_date=invoice.due_date,
            lines=lines_of(invoice.line_items.order_by("sort_order", "id")),
            subtotal_cents=invoice.subtotal_cents,
            tax_cents=invoice.tax_cents,
            total_cents=invoice.total_cents,
            references=((f"Replaces invoice {invoice.replaces.invoice_number}",) if invoice.replaces_id else ()),
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
                ("Notes", invoice.notes),
            ),
        )

    def _credit_note(self, invoice: Invoice, credit_note_id: int) -> DocumentData:
        credit = CreditNote.objects.filter(
            tenant_id=invoice.tenant_id, invoice_id=invoice.pk, pk=credit_note_id
        ).first()
        if credit is None:
            raise NotFound(f"Credit note {credit_note_id} of invoice {invoice.invoice_number} not found.")
        refund = Payment.objects.filter(tenant_id=invoice.tenant_id, credit_note_id=credit.pk).first()
        method = PAYMENT_METHOD_WORDS.get(refund.method, refund.method) if refund is not None else ""
        return DocumentData(
            kind=DocumentKind.CREDIT_NOTE,
            number=credit.credit_note_number,
            currency=credit.currency,
            seller=_seller(invoice.tenant),
            buyer=_buyer(invoice.contact),
            issue_date=day(credit.created_at),
            lines=(
                DocumentLine(
                    f"Credit against invoice {invoice.invoice_number}", 1, credit.amount_cents, credit.amount_cents
                ),
            ),
            subtotal_cents=None,
            tax_cents=None,
            total_cents=credit.amount_cents,
            references=(f"Credits invoice {invoice.invoice_number} of {day(invoice.sent_at).isoformat()}",),
            notes=(("Reason", credit.reason), ("Refund method", method)),
        )


TENANT_DOCUMENTS = TenantDocuments()
