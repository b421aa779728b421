"""The seller's evidence for a dispute: files uploaded through our API and forwarded to Stripe, then
the text fields and those files submitted once, before the deadline.

- A file is checked by its first bytes (PDF, PNG or JPEG, what Stripe takes as dispute evidence) and
  its size (`DISPUTE_EVIDENCE_MAX_BYTES`, default 4 MiB), then sent to Stripe (`files.create`,
  purpose `dispute_evidence`) under an idempotency key derived from the dispute and the content: the
  same file twice is the same Stripe file and the same row.
- Submitting is reserved first (`submission = "submitting"`, committed), then Stripe is called with
  no transaction open (`disputes.update` with `evidence` and `submit`), then recorded (`submitted`)
  with an audit row on the invoice. Stripe unreachable or refusing: the reservation is released
  (503 / 409) and nothing is recorded. A retry of the same evidence after a crash resumes it (the
  Stripe key is derived from the evidence); other evidence meanwhile is 409.
- After the deadline, on a closed dispute, or once submitted: 409.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, NotFound, PayloadTooLarge, Unavailable, ValidationFailed
from breederhq.tenancy import owner_context, tenant_context
from payments_app.dispute_models import DisputeEvidenceFile, InvoiceDispute
from payments_app.stripe_gateway import StripeUnavailable, call_stripe, idempotency_key, stripe_client

Submission = InvoiceDispute.Submission

#: What Stripe takes as dispute evidence, recognised by the first bytes.
EVIDENCE_SIGNATURES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
#: Stripe's text evidence fields accepted here (each at most TEXT_MAX characters).
TEXT_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
)
#: Stripe's evidence fields that name an uploaded file.
FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
TEXT_MAX = 20_000
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


def evidence_max_bytes() -> int:
    return getattr(settings, "DISPUTE_EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES)


def _owner(dispute: InvoiceDispute) -> int | None:
    return dispute.owner_tenant_id


def _check_open(dispute: InvoiceDispute) -> None:
    if dispute.is_closed:
        raise Conflict(
            f"Dispute {dispute.stripe_dispute_id} is closed ({dispute.status}): evidence can no longer be sent.",
            code="dispute_closed",
        )
    if dispute.submission == Submission.SUBMITTED:
        raise Conflict(
            "The evidence of this dispute was submitted already; Stripe takes it once.",
            code="evidence_already_submitted",
        )
    if dispute.evidence_due_by is not None and timezone.now() >= dispute.evidence_due_by:
        raise Conflict(
            f"The deadline for evidence passed at {dispute.evidence_due_by.isoformat()}.",
            code="evidence_deadline_passed",
        )


def invoice_dispute_or_404(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> InvoiceDispute:
    from payments_app.disputes import invoice_dispute

    dispute = invoice_dispute(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if dispute is None:
        raise NotFound(f"Invoice {invoice_id} has no dispute.", code="no_dispute")
    return dispute


def _sniff(upload) -> str:
    limit = evidence_max_bytes()
    if upload.size > limit:
        raise PayloadTooLarge(
            f"The file is {upload.size} bytes; the limit is {limit} bytes.",
            max_bytes=limit,
            code="evidence_file_too_large",
        )
    head = upload.read(16)
    upload.seek(0)
    kind = next((kind for magic, kind in EVIDENCE_SIGNATURES.items() if head.startswith(magic)), None)
    if upload.size == 0 or kind is None:
        raise ValidationFailed(
            "Dispute evidence must be a PDF, PNG or JPEG file.",
            field_errors={"file": ["not a PDF, PNG or JPEG file"]},
            code="evidence_file_type_refused",
        )
    return kind


def evidence_file_upload(*, dispute: InvoiceDispute, upload, uploaded_by: str) -> tuple[DisputeEvidenceFile, bool]:
    """Check the file, forward it to Stripe, keep its Stripe id. Returns (row, created)."""
    content_type = _sniff(upload)
    _check_open(dispute)
    content = upload.read()
    digest = hashlib.sha256(content).hexdigest()
    with owner_context(_owner(dispute)):
        existing = DisputeEvidenceFile.objects.using(TENANT_DB).filter(dispute=dispute, sha256=digest).first()
    if existing is not None:
        return existing, False
    filename = posixpath.basename(upload.name or "evidence")[-200:] or "evidence"
    try:
        created = call_stripe(
            "file.create",
            stripe_client().v1.files.create,
            params={"purpose": "dispute_evidence", "file": _named(content, filename)},
            options={"idempotency_key": idempotency_key("dispute_file", dispute.stripe_dispute_id, digest)},
        )
    except StripeUnavailable as exc:
        raise Unavailable(
            f"Stripe cannot be reached; the file was not sent. Retry. ({exc})", code="stripe_unavailable"
        ) from exc
    except stripe.StripeError as exc:
        raise ValidationFailed(
            f"Stripe refused the file: {getattr(exc, 'user_message', None) or exc}",
            field_errors={"file": ["refused by Stripe"]},
            code="evidence_file_refused",
        ) from exc
    try:
        with owner_context(_owner(dispute)), transaction.atomic(using=TENANT_DB):
            row = DisputeEvidenceFile.objects.using(TENANT_DB).create(
                dispute=dispute,
                owner_tenant_id=_owner(dispute),
                stripe_file_id=created.id,
                filename=filename,
                content_type=content_type,
                size_bytes=len(content),
                sha256=digest,
                uploaded_by=uploaded_by,
            )
    except IntegrityError:  # the same content uploaded at the same moment: Stripe gave both the same file
        with owner_context(_owner(dispute)):
            return DisputeEvidenceFile.objects.using(TENANT_DB).get(dispute=dispute, sha256=digest), False
    return row, True


def _named(content: bytes, filename: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = filename  # the SDK names the multipart part after it
    return handle


def _stripe_evidence(dispute: InvoiceDispute, text: dict, files: dict) -> dict:
    """Stripe's `evidence` parameter: the text as given, each file field as its Stripe file id."""
    ours = {int(v) for v in files.values()}
    with owner_context(_owner(dispute)):
        known = dict(
            DisputeEvidenceFile.objects.using(TENANT_DB)
            .filter(dispute=dispute, pk__in=ours)
            .values_list("pk", "stripe_file_id")
        )
    unknown = {field: ["not a file uploaded for this dispute"] for field, pk in files.items() if int(pk) not in known}
    if unknown:
        raise ValidationFailed(
            "A file named in the evidence was not uploaded for this dispute.",
            field_errors=unknown,
            code="evidence_file_unknown",
        )
    return {**{k: v for k, v in text.items() if v}, **{field: known[int(pk)] for field, pk in files.items()}}


def dispute_evidence_submit(
    *, dispute: InvoiceDispute, text: dict, files: dict, submitted_by: str, audit
) -> InvoiceDispute:
    """Send the evidence and submit it. `audit(dispute, evidence)` writes the invoice's audit row (in
    the invoice's own database), called once the submission is recorded."""
    evidence = _stripe_evidence(dispute, text, files)
    if not evidence:
        raise ValidationFailed(
            "Send at least one evidence field or file.", field_errors={"evidence": ["empty"]}, code="evidence_empty"
        )
    fingerprint = hashlib.sha256(json.dumps(evidence, sort_keys=True).encode()).hexdigest()[:40]
    with owner_context(_owner(dispute)), transaction.atomic(using=TENANT_DB):
        locked = InvoiceDispute.objects.using(TENANT_DB).select_for_update().get(pk=dispute.pk)
        _check_open(locked)
        if locked.submission == Submission.SUBMITTING and locked.evidence != evidence:
            raise Conflict(
                "Other evidence for this dispute is being sent to Stripe.", code="evidence_submission_in_flight"
            )
        locked.submission, locked.evidence = Submission.SUBMITTING, evidence
        locked.save(using=TENANT_DB, update_fields=["submission", "evidence", "updated_at"])
    try:
        answer = call_stripe(
            "dispute.update",
            stripe_client().v1.disputes.update,
            dispute.stripe_dispute_id,
            params={"evidence": evidence, "submit": True},
            options={"idempotency_key": idempotency_key("dispute_submit", dispute.stripe_dispute_id, fingerprint)},
        )
    except (StripeUnavailable, stripe.StripeError) as exc:
        with owner_context(_owner(dispute)), transaction.atomic(using=TENANT_DB):
            InvoiceDispute.objects.using(TENANT_DB).filter(pk=dispute.pk, submission=Submission.SUBMITTING).update(
                submission=Submission.NONE, updated_at=timezone.now()
            )
        if isinstance(exc, StripeUnavailable):
            raise Unavailable(
                f"Stripe cannot be reached; nothing was submitted. Retry. ({exc})", code="stripe_unavailable"
            ) from exc
        raise Conflict(
            f"Stripe refused the evidence; nothing was submitted: {getattr(exc, 'user_message', None) or exc}",
            code="dispute_not_updatable",
        ) from exc
    with owner_context(_owner(dispute)), transaction.atomic(using=TENANT_DB):
        locked = InvoiceDispute.objects.using(TENANT_DB).select_for_update().get(pk=dispute.pk)
        if locked.submission != Submission.SUBMITTED:
            locked.submission, locked.evidence_submitted_at = Submission.SUBMITTED, timezone.now()
            locked.evidence_submitted_by = submitted_by[:100]
            if not locked.is_closed:
                locked.status = (getattr(answer, "status", None) or locked.status)[:40]
            locked.save(
                using=TENANT_DB,
                update_fields=["submission", "evidence_submitted_at", "evidence_submitted_by", "status", "updated_at"],
            )
            first = True
        else:
            first = False
    if first:
        audit(locked, evidence)
    return locked


def audit_tenant_invoice(*, tenant_id: int, actor, action: str, metadata: dict):
    """An audit writer for a tenant invoice's dispute (the invoice's timeline shows it)."""
    from breederhq.invoicing import lifecycle
    from tenant_app.invoicing import TENANT_INVOICES
    from tenant_app.models import Invoice

    def write(dispute: InvoiceDispute, evidence: dict | None = None) -> None:
        with tenant_context(tenant_id), transaction.atomic(using=TENANT_DB):
            invoice = Invoice.objects.using(TENANT_DB).get(pk=dispute.invoice_id)
            lifecycle.audit(
                TENANT_INVOICES,
                invoice,
                action=action,
                old_status=invoice.status,
                actor=actor,
                metadata={**metadata, "dispute": dispute.stripe_dispute_id, "fields": sorted(evidence or {})},
            )

    return write


def audit_marketplace_invoice(*, actor_id: int, action: str, metadata: dict):
    from breederhq.invoicing import lifecycle
    from marketplace_app.invoicing import MARKETPLACE_INVOICES
    from marketplace_app.models import MarketplaceInvoice

    def write(dispute: InvoiceDispute, evidence: dict | None = None) -> None:
        with transaction.atomic(using=MARKETPLACE_DB):
            invoice = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get(pk=dispute.invoice_id)
            lifecycle.audit(
                MARKETPLACE_INVOICES,
                invoice,
                action=action,
                old_status=invoice.status,
                actor=actor_id,
                metadata={**metadata, "dispute": dispute.stripe_dispute_id, "fields": sorted(evidence or {})},
            )

    return write


def evidence_files(dispute: InvoiceDispute) -> list[DisputeEvidenceFile]:
    with owner_context(_owner(dispute)):
        return list(DisputeEvidenceFile.objects.using(TENANT_DB).filter(dispute=dispute).order_by("id"))
