"""A disputed invoice's dispute, for its seller and its buyer, and the seller's evidence.

Tenant invoices (the breeder is the seller): `GET /api/v1/invoices/{id}/dispute/` (any role), evidence
by an owner or admin. Marketplace invoices: `GET /api/v1/marketplace/invoices/{id}/dispute/` (the
buyer or the provider; anyone else 404 as the invoice), evidence by the provider only. Services:
payments_app/disputes.py and payments_app/dispute_evidence.py.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, MarketplaceAPIView, TenantAPIView
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.uploads import RECEIPT_UPLOAD_PARSERS
from breederhq.databases import TENANT_DB
from breederhq.errors import NotFound, PermissionDenied, ValidationFailed
from payments_app import dispute_evidence as evidence
from payments_app.api.dispute_serializers import DisputeFileOut, DisputeOut
from payments_app.disputes import dispute_summary
from payments_app.models import InvoiceKind


class EvidenceFileIn(serializers.Serializer):
    file = serializers.FileField(help_text="PDF, PNG or JPEG; at most DISPUTE_EVIDENCE_MAX_BYTES (4 MiB).")


class EvidenceFilesIn(serializers.Serializer):
    """Stripe's file evidence fields, each naming one of the dispute's uploaded files (`id`)."""

    def get_fields(self):
        return {
            name: serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
            for name in evidence.FILE_FIELDS
        }


class EvidenceIn(serializers.Serializer):
    """Stripe's text evidence fields, and `files` naming uploaded files. Sent once, then 409."""

    files = EvidenceFilesIn(required=False)

    def get_fields(self):
        fields = {
            name: serializers.CharField(max_length=evidence.TEXT_MAX, required=False, allow_blank=True)
            for name in evidence.TEXT_FIELDS
        }
        return {**fields, **super().get_fields()}

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["not an evidence field"] for name in sorted(unknown)})
        return attrs


EVIDENCE_ERRORS = {
    **WRITE_ERRORS,
    **problems(
        e404="No such invoice, or no dispute on it (`no_dispute`)",
        e409="`dispute_closed`, `evidence_already_submitted`, `evidence_deadline_passed`, "
        "`evidence_submission_in_flight`, `dispute_not_updatable` (Stripe refused), or an "
        "Idempotency-Key in flight",
        e503="Stripe cannot be reached (`stripe_unavailable`): nothing was sent; retry",
    ),
}
FILE_ERRORS = {
    **EVIDENCE_ERRORS,
    **problems(
        e400="`evidence_file_type_refused` (not a PDF, PNG or JPEG), `evidence_file_refused` (by Stripe)",
        e413="`evidence_file_too_large` (the limit in `max_bytes`)",
    ),
}


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed(
            "Invalid input.",
            field_errors={
                k: [str(e) for e in v] if isinstance(v, list) else [str(v)] for k, v in serializer.errors.items()
            },
        )
    return serializer.validated_data


def _dispute_out(dispute, *, seller: bool) -> dict:
    files = evidence.evidence_files(dispute) if seller else []
    return DisputeOut({**dispute_summary(dispute), "evidence_files": files}).data


def _submit(request, dispute, *, submitted_by: str, audit) -> Response:
    data = _valid(EvidenceIn, request.data)
    files = dict(data.pop("files", {}) or {})
    dispute = evidence.dispute_evidence_submit(
        dispute=dispute, text=data, files=files, submitted_by=submitted_by, audit=audit
    )
    return Response(_dispute_out(dispute, seller=True))


def _upload(request, dispute, *, uploaded_by: str) -> Response:
    data = _valid(EvidenceFileIn, request.data)
    row, created = evidence.evidence_file_upload(dispute=dispute, upload=data["file"], uploaded_by=uploaded_by)
    return Response(DisputeFileOut(row).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- Tenant invoices -------------------------------------------------------------------------------


class _TenantDisputeView(TenantAPIView):
    resource_type = "invoices"
    write_roles = MANAGER_ROLES  # money is at stake: an owner or admin answers a dispute

    def dispute(self, request, invoice_id: int):
        from tenant_app.models import Invoice

        if not Invoice.objects.filter(pk=invoice_id).exists():  # the request's tenant context
            raise NotFound(f"Invoice {invoice_id} not found.")
        return evidence.invoice_dispute_or_404(
            invoice_kind=InvoiceKind.TENANT, invoice_id=invoice_id, tenant_id=request.tenant_id
        )

    def audit(self, request, action: str):
        return evidence.audit_tenant_invoice(
            tenant_id=request.tenant_id, actor=request.user, action=action, metadata={}
        )


class TenantInvoiceDisputeView(_TenantDisputeView):
    serializer_class = DisputeOut

    @extend_schema(
        operation_id="invoices_dispute_retrieve",
        tags=["invoices"],
        responses={200: DisputeOut, **READ_ERRORS},
        summary="The invoice's dispute (chargeback)",
    )
    def get(self, request, invoice_id: int):
        return Response(_dispute_out(self.dispute(request, invoice_id), seller=True))


class TenantDisputeEvidenceFileView(_TenantDisputeView):
    parser_classes = RECEIPT_UPLOAD_PARSERS
    serializer_class = DisputeFileOut

    @extend_schema(
        operation_id="invoices_dispute_evidence_file_upload",
        tags=["invoices"],
        request={"multipart/form-data": EvidenceFileIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: DisputeFileOut, 200: DisputeFileOut, **FILE_ERRORS},
        summary="Upload an evidence file (owner or admin): forwarded to Stripe",
        description="201 a new file; 200 the same content uploaded before.",
    )
    def post(self, request, invoice_id: int):
        return _upload(request, self.dispute(request, invoice_id), uploaded_by=f"user:{request.user.pk}")


class TenantDisputeEvidenceView(_TenantDisputeView):
    serializer_class = EvidenceIn

    @extend_schema(
        operation_id="invoices_dispute_evidence_submit",
        tags=["invoices"],
        request=EvidenceIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DisputeOut, **EVIDENCE_ERRORS},
        summary="Submit the evidence to Stripe, once, before the deadline (owner or admin)",
    )
    def post(self, request, invoice_id: int):
        return _submit(
            request,
            self.dispute(request, invoice_id),
            submitted_by=f"user:{request.user.pk}",
            audit=self.audit(request, "dispute_evidence_submitted"),
        )


# --- Marketplace invoices ---------------------------------------------------------------------------


class _MarketplaceDisputeView(MarketplaceAPIView):
    # The effect is in the tenant database (the dispute rows): the Idempotency-Key lives there too.
    idempotency_database = TENANT_DB

    def dispute(self, request, invoice_id: int, *, provider_only: bool):
        from marketplace_app import selectors

        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        is_provider = invoice.provider.user_id == me
        if provider_only and not is_provider:
            raise PermissionDenied("Only the invoice's provider answers its dispute.", code="not_your_action")
        dispute = evidence.invoice_dispute_or_404(
            invoice_kind=InvoiceKind.MARKETPLACE, invoice_id=invoice_id, tenant_id=None
        )
        return dispute, is_provider


class MarketplaceInvoiceDisputeView(_MarketplaceDisputeView):
    serializer_class = DisputeOut

    @extend_schema(
        operation_id="marketplace_invoices_dispute_retrieve",
        tags=["marketplace"],
        responses={200: DisputeOut, **READ_ERRORS},
        summary="The invoice's dispute (the buyer or the provider)",
    )
    def get(self, request, invoice_id: int):
        dispute, is_provider = self.dispute(request, invoice_id, provider_only=False)
        return Response(_dispute_out(dispute, seller=is_provider))


class MarketplaceDisputeEvidenceFileView(_MarketplaceDisputeView):
    parser_classes = RECEIPT_UPLOAD_PARSERS
    serializer_class = DisputeFileOut

    @extend_schema(
        operation_id="marketplace_invoices_dispute_evidence_file_upload",
        tags=["marketplace"],
        request={"multipart/form-data": EvidenceFileIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: DisputeFileOut, 200: DisputeFileOut, **FILE_ERRORS},
        summary="Upload an evidence file (the provider): forwarded to Stripe",
    )
    def post(self, request, invoice_id: int):
        dispute, _ = self.dispute(request, invoice_id, provider_only=True)
        return _upload(request, dispute, uploaded_by=f"marketplace_user:{request.marketplace_user.pk}")


class MarketplaceDisputeEvidenceView(_MarketplaceDisputeView):
    serializer_class = EvidenceIn

    @extend_schema(
        operation_id="marketplace_invoices_dispute_evidence_submit",
        tags=["marketplace"],
        request=EvidenceIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DisputeOut, **EVIDENCE_ERRORS},
        summary="Submit the evidence to Stripe, once, before the deadline (the provider)",
    )
    def post(self, request, invoice_id: int):
        dispute, _ = self.dispute(request, invoice_id, provider_only=True)
        me = request.marketplace_user.pk
        return _submit(
            request,
            dispute,
            submitted_by=f"marketplace_user:{me}",
            audit=evidence.audit_marketplace_invoice(actor_id=me, action="dispute_evidence_submitted", metadata={}),
        )
