"""Back-office pages of disputes and their evidence files (read-only; rows found through the
audited system read, like the other payment tables)."""

from django.contrib import admin

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin, SystemReadAdminMixin
from payments_app.dispute_models import DisputeEvidenceFile, InvoiceDispute


class DisputeEvidenceFileInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DisputeEvidenceFile
    fields = ("stripe_file_id", "filename", "content_type", "size_bytes", "uploaded_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(InvoiceDispute)
class InvoiceDisputeAdmin(LargeTableAdminMixin, SystemReadAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Buyers' disputes of card payments: Stripe's status, the deadline, the seller's submission, and
    whether a lost one's money has left the invoice (`settled_at`)."""

    list_display = (
        "stripe_dispute_id",
        "invoice_kind",
        "invoice_id",
        "owner_tenant_id",
        "amount_cents",
        "currency",
        "reason",
        "status",
        "evidence_due_by",
        "submission",
        "settled_at",
        "updated_at",
    )
    list_filter = ("status", "submission", "invoice_kind")
    search_fields = ("=stripe_dispute_id",)
    readonly_fields = [f.name for f in InvoiceDispute._meta.fields]
    inlines = [DisputeEvidenceFileInline]
