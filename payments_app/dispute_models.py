"""A buyer's dispute (chargeback) of a card payment, and the evidence its seller sends Stripe.

Both tables are under row-level security keyed by `owner_tenant`, like `invoice_payments` (a tenant
invoice's dispute is its tenant's; a marketplace invoice's has no owner and is reached only in
`platform_context`). The webhook worker writes disputes (payments_app/disputes.py); the seller
uploads evidence files and submits the evidence through the API.
"""

from django.db import models


class InvoiceDispute(models.Model):
    """One Stripe dispute (dp_...) of an invoice's card payment, kept current from `charge.dispute.*`
    events: `last_event_created` makes an older event arriving late change nothing, and a closed
    dispute (won, lost) never opens again. `settled_at` is set once the money of a lost dispute left
    the invoice (a refund-equivalent entry), so a repeated `closed` event does it once."""

    CLOSED = frozenset({"won", "lost", "warning_closed"})

    class Submission(models.TextChoices):
        NONE = "", "Not submitted"
        SUBMITTING = "submitting", "Being sent to Stripe"
        SUBMITTED = "submitted", "Submitted to Stripe"

    payment = models.ForeignKey("payments_app.InvoicePayment", on_delete=models.PROTECT, related_name="disputes")
    owner_tenant = models.ForeignKey(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    invoice_kind = models.CharField(max_length=20)
    invoice_id = models.BigIntegerField()
    stripe_dispute_id = models.CharField(max_length=100, unique=True)
    stripe_charge_id = models.CharField(max_length=100, blank=True)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=50, blank=True)
    #: Stripe's status: needs_response, under_review, won, lost, warning_* ...
    status = models.CharField(max_length=40)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    submission = models.CharField(max_length=20, choices=Submission.choices, blank=True, default="")
    #: The evidence as submitted (text fields and Stripe file ids), for support staff.
    evidence = models.JSONField(default=dict, blank=True)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    #: Who submitted it: "user:<id>" (a tenant user) or "marketplace_user:<id>".
    evidence_submitted_by = models.CharField(max_length=100, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    last_event_created = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "invoice_disputes"
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gte=0), name="invoice_disputes_amount_valid"),
            models.CheckConstraint(
                condition=models.Q(submission__in=["", "submitting", "submitted"]),
                name="invoice_disputes_submission_valid",
            ),
        ]
        indexes = [models.Index(fields=["invoice_kind", "invoice_id"], name="invoice_disputes_invoice_idx")]

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id} {self.amount_cents} {self.currency} [{self.status}]"

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED


class DisputeEvidenceFile(models.Model):
    """A file the seller uploaded for a dispute, already forwarded to Stripe (`purpose=dispute_evidence`):
    only Stripe's file id is kept, with what we checked about it. The same content uploaded twice is
    the same Stripe file (the Stripe idempotency key is derived from it) and the same row."""

    dispute = models.ForeignKey(InvoiceDispute, on_delete=models.PROTECT, related_name="evidence_files")
    owner_tenant = models.ForeignKey(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stripe_file_id = models.CharField(max_length=100, unique=True)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "invoice_dispute_evidence_files"
        constraints = [
            models.UniqueConstraint(fields=["dispute", "sha256"], name="dispute_evidence_files_one_per_content"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_file_id} ({self.filename})"
