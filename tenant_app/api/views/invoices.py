"""Invoices of the caller's tenant: list and create, read and act on one, its timeline, its receipt."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, TenantAPIView, refuse
from breederhq.api.filters import IdFilter, StrictBooleanFilter, UTCIsoDateTimeFilter
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, RECEIPT_FILE, WRITE_ERRORS
from breederhq.api.uploads import (
    RECEIPT_UPLOAD_PARSERS,
    ReceiptDownloadNegotiation,
    check_receipt,
    receipt_download,
)
from breederhq.api.versioning import IF_MATCH, version_etag
from breederhq.api.versioning import expected_version_from_request as _expected_version
from breederhq.errors import NotFound
from breederhq.invoicing.timeline import TimelineEntryOut, invoice_timeline
from tenant_app import selectors, services
from tenant_app.api import serializers as s
from tenant_app.invoicing import TENANT_INVOICES
from tenant_app.models import Invoice, InvoiceStatus


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=InvoiceStatus.choices)
    contact = IdFilter(field_name="contact_id")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    is_marketplace_invoice = StrictBooleanFilter()
    ordering = django_filters.OrderingFilter(
        fields=(("created_at", "created_at"), ("total_cents", "total_cents"), ("invoice_number", "invoice_number"))
    )

    class Meta:
        model = Invoice
        fields = ["status", "contact", "is_marketplace_invoice"]


def _invoice_response(invoice_id: int, *, tenant_id: int, status_code: int = 200) -> Response:
    invoice = selectors.invoice_get(tenant_id=tenant_id, invoice_id=invoice_id)
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return Response(
        s.InvoiceDetailOut(invoice).data, status=status_code, headers={"ETag": version_etag(invoice.version)}
    )


def _lines(data) -> list[services.LineInput]:
    return [
        services.LineInput(
            description=line["description"], unit_price_cents=line["unit_price_cents"], quantity=line["quantity"]
        )
        for line in data
    ]


class InvoiceListView(TenantAPIView):
    resource_type = "invoices"
    pagination_class = PageNumber
    filterset_class = InvoiceFilter
    serializer_class = s.InvoiceOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        return selectors.invoice_list(tenant_id=self.request.tenant_id)

    @extend_schema(
        operation_id="invoices_list", tags=["invoices"], responses={200: s.InvoiceOut(many=True), **READ_ERRORS}
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.InvoiceOut(page, many=True).data)

    @extend_schema(
        operation_id="invoices_create",
        tags=["invoices"],
        request=s.InvoiceIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.InvoiceDetailOut, **WRITE_ERRORS},
    )
    def post(self, request):
        data = validated(s.InvoiceIn, request.data)
        invoice = services.invoice_create(
            contact_id=data["contact_id"],
            lines=_lines(data["lines"]),
            currency=data.get("currency"),
            tax_cents=data["tax_cents"],
            notes=data["notes"],
            due_date=data["due_date"],
            is_marketplace_invoice=data["is_marketplace_invoice"],
            actor=request.user,
        )
        return _invoice_response(invoice.pk, tenant_id=request.tenant_id, status_code=status.HTTP_201_CREATED)


#: Actions that only an owner or admin may take (money leaves, or a ledger document dies).
MANAGER_ACTIONS = frozenset({"void", "refund"})


def _refund(request, invoice_id: int, *, version: int, amount_cents: int, reason: str):
    """`PATCH action=refund` and `POST .../refunds/`: one refund per Idempotency-Key (another key is
    another refund, judged against what is still refundable), through the channel that took the
    money. A PATCH without a key is one refund per version."""
    key = request.headers.get("Idempotency-Key") or f"version:{version}"
    return services.invoice_refund(
        invoice_id=invoice_id,
        amount_cents=amount_cents,
        reason=reason,
        idempotency_key=f"api:{key}",
        actor=request.user,
        expected_version=version,
        through_provider=True,
    )


class InvoiceDetailView(TenantAPIView):
    resource_type = "invoices"
    serializer_class = s.InvoiceDetailOut

    @extend_schema(
        operation_id="invoices_retrieve", tags=["invoices"], responses={200: s.InvoiceDetailOut, **READ_ERRORS}
    )
    def get(self, request, invoice_id: int):
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)

    @extend_schema(
        operation_id="invoices_update",
        tags=["invoices"],
        request=s.InvoicePatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.InvoiceDetailOut, **WRITE_ERRORS},
        summary="A state change (`action`) or a draft edit, at the version you last read",
        description="Actions: send, mark_paid (method), confirm_payment, reject_payment (reason), void, "
        "refund (amount_cents, reason). Without an action: draft fields. A stale version is "
        "409 `version_conflict` with `current_version`.",
    )
    def patch(self, request, invoice_id: int):
        data = validated(s.InvoicePatch, request.data)
        version = _expected_version(request, data.get("version"))
        action = data.get("action")
        if action in MANAGER_ACTIONS and request.tenant_membership.role not in MANAGER_ROLES:
            refuse(
                request,
                resource_type="invoices",
                resource_id=invoice_id,
                action=action,
                reason=f"role {request.tenant_membership.role} may not {action}",
                code="role_forbidden",
                detail=f"Only an owner or admin may {action} an invoice.",
            )
        # Every service compares `version` under the invoice's row lock, in its own transaction.
        self._apply(request, invoice_id, version, action, data)
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)

    @staticmethod
    def _apply(request, invoice_id: int, version: int, action: str | None, data: dict) -> None:
        actor = request.user
        if action is None:
            services.invoice_update_draft(
                invoice_id=invoice_id,
                expected_version=version,
                actor=actor,
                lines=_lines(data["lines"]) if "lines" in data else None,
                tax_cents=data.get("tax_cents"),
                notes=data.get("notes"),
                due_date=data.get("due_date"),
            )
        elif action == "send":
            services.invoice_send(invoice_id=invoice_id, expected_version=version, actor=actor)
        elif action == "mark_paid":
            # One full payment per version: a retried request at the same version is the same payment.
            services.invoice_mark_paid(
                invoice_id=invoice_id,
                method=data["method"],
                idempotency_key=f"api:mark_paid:{invoice_id}:v{version}",
                external_reference=data["reference"],
                actor=actor,
                expected_version=version,
            )
        elif action == "confirm_payment":
            services.invoice_confirm_payment(
                invoice_id=invoice_id, actor=actor, reference=data["reference"], expected_version=version
            )
        elif action == "reject_payment":
            services.invoice_reject_payment(
                invoice_id=invoice_id, actor=actor, reason=data["reason"], expected_version=version
            )
        elif action == "void":
            services.invoice_void(invoice_id=invoice_id, actor=actor, reason=data["reason"], expected_version=version)
        elif action == "refund":
            _refund(request, invoice_id, version=version, amount_cents=data["amount_cents"], reason=data["reason"])


class InvoiceTimelineView(TenantAPIView):
    """The invoice's audit timeline: every change and every payment-confirmation step, oldest first.
    Any member who may read the invoice may read it (the same shape as marketplace invoices')."""

    resource_type = "invoices"
    pagination_class = PageNumber
    serializer_class = TimelineEntryOut
    queryset = Invoice.objects.none()  # the schema's model; reads go through the selector

    @extend_schema(
        operation_id="invoices_timeline",
        tags=["invoices"],
        responses={200: TimelineEntryOut(many=True), **READ_ERRORS},
        summary="The invoice's changes and payment-confirmation steps, oldest first",
    )
    def get(self, request, invoice_id: int):
        invoice = selectors.invoice_get(tenant_id=request.tenant_id, invoice_id=invoice_id)
        if invoice is None:
            raise NotFound(f"Invoice {invoice_id} not found.")
        page = self.paginate_queryset(invoice_timeline(TENANT_INVOICES, invoice))
        return self.get_paginated_response(TimelineEntryOut(page, many=True).data)


class InvoiceReceiptView(ReceiptDownloadNegotiation, TenantAPIView):
    """Staff record a buyer's manual payment claim with the receipt the buyer sent them. GET: the
    stored file, for members who may read the invoice (another tenant's invoice is not there: 404)."""

    parser_classes = RECEIPT_UPLOAD_PARSERS

    resource_type = "invoices"
    serializer_class = s.ReceiptIn

    @extend_schema(
        operation_id="invoices_receipt_download",
        tags=["invoices"],
        responses={**RECEIPT_FILE, **READ_ERRORS},
        summary="Download the buyer's receipt file",
    )
    def get(self, request, invoice_id: int):
        invoice = selectors.invoice_get(tenant_id=request.tenant_id, invoice_id=invoice_id)
        if invoice is None:
            raise NotFound(f"Invoice {invoice_id} not found.")
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.invoice_number}")

    @extend_schema(
        operation_id="invoices_receipt_upload",
        tags=["invoices"],
        request={"multipart/form-data": s.ReceiptIn},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.InvoiceDetailOut, **WRITE_ERRORS},
        summary="Upload the buyer's receipt: the invoice becomes pending_confirmation",
    )
    def post(self, request, invoice_id: int):
        data = validated(s.ReceiptIn, request.data)
        check_receipt(data["receipt"])
        version = _expected_version(request, data.get("version"))
        services.invoice_buyer_mark_paid(
            invoice_id=invoice_id, receipt=data["receipt"], reference=data["reference"], expected_version=version
        )
        return _invoice_response(invoice_id, tenant_id=request.tenant_id)
