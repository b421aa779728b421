"""The invoice timeline in the admin, for both kinds: the audit rows and the payment-confirmation
rows as read-only inlines on the invoice page (the tables are append-only)."""

from __future__ import annotations

from django.contrib import admin

from breederhq.backoffice.admin_tools import ReadOnlyAdminMixin

AUDIT_FIELDS = ("changed_at", "action", "old_status", "new_status", "payment_mode", "changed_by", "actor", "metadata")
CONFIRMATION_FIELDS = (
    "created_at",
    "event",
    "marked_paid_at",
    "confirmed_by",
    "confirmed_by_actor",
    "confirmed_at",
    "payment_method",
    "payment_reference",
)


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


def timeline_inlines(*, audit_model, confirmation_model, claimant_field: str) -> list[type]:
    """[payment confirmations, changes] inlines for one invoice kind; `claimant_field` names the
    confirmation column that holds the buyer who claimed the payment."""
    confirmation_fields = (*CONFIRMATION_FIELDS[:2], claimant_field, *CONFIRMATION_FIELDS[2:])
    confirmations = type(
        "PaymentConfirmationInline",
        (ReadOnlyInline,),
        {
            "model": confirmation_model,
            "fields": confirmation_fields,
            "readonly_fields": confirmation_fields,
            "verbose_name_plural": "Timeline: payment confirmations",
            "__module__": __name__,
        },
    )
    changes = type(
        "InvoiceAuditInline",
        (ReadOnlyInline,),
        {
            "model": audit_model,
            "fields": AUDIT_FIELDS,
            "readonly_fields": AUDIT_FIELDS,
            "verbose_name_plural": "Timeline: changes",
            "__module__": __name__,
        },
    )
    return [confirmations, changes]


DOCUMENT_FIELDS = ("kind", "number", "version", "size", "sha256", "created_at", "pdf")


def documents_inline(*, document_model, kind: str) -> type:
    """The invoice's stored PDFs (its own and its credit notes'), each opened through the back office
    (breederhq/backoffice/invoice_documents.py). `kind`: "tenant" or "marketplace"."""
    from breederhq.backoffice.invoice_documents import document_link

    return type(
        "InvoiceDocumentInline",
        (ReadOnlyInline,),
        {
            "model": document_model,
            "fields": DOCUMENT_FIELDS,
            "readonly_fields": DOCUMENT_FIELDS,
            "pdf": document_link(kind),
            "verbose_name_plural": "Documents (PDF)",
            "__module__": __name__,
        },
    )


class OverdueFilter(admin.SimpleListFilter):
    """Both kinds' change lists: the invoices the overdue rule picks (breederhq/invoicing/due_dates.py)."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        from breederhq.invoicing.due_dates import overdue_q

        if self.value() == "yes":
            return queryset.filter(overdue_q())
        if self.value() == "no":
            return queryset.exclude(overdue_q())
        return queryset
