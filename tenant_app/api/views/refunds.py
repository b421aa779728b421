"""Refunds of a tenant invoice."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MANAGER_ROLES, TenantAPIView
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY_SCHEMA, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.versioning import IF_MATCH
from breederhq.api.versioning import expected_version_from_request as _expected_version
from breederhq.errors import NotFound, ValidationFailed
from tenant_app import selectors
from tenant_app.api import serializers as s
from tenant_app.api.views.invoices import _refund
from tenant_app.models import Payment

IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description="Required. Same key + same body replays the first response; another body -> 422.",
)


class InvoiceRefundListView(TenantAPIView):
    """An invoice's refunds (each a refund `Payment` row with its credit note). Creating one needs an
    owner or admin, the invoice version and an Idempotency-Key."""

    resource_type = "refunds"
    write_roles = MANAGER_ROLES
    pagination_class = PageNumber
    serializer_class = s.RefundOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.invoice_refund_list(tenant_id=self.request.tenant_id, invoice_id=self.kwargs["invoice_id"])

    def _invoice_exists(self, invoice_id: int) -> None:
        if not selectors.invoice_list(tenant_id=self.request.tenant_id).filter(pk=invoice_id).exists():
            raise NotFound(f"Invoice {invoice_id} not found.")

    @extend_schema(
        operation_id="invoice_refunds_list",
        tags=["invoices"],
        responses={200: s.RefundOut(many=True), **READ_ERRORS},
        summary="The refunds of one invoice, newest first",
    )
    def get(self, request, invoice_id: int):
        self._invoice_exists(invoice_id)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.RefundOut(page, many=True).data)

    @extend_schema(
        operation_id="invoice_refunds_create",
        tags=["invoices"],
        request=s.RefundIn,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY_REQUIRED],
        responses={201: s.RefundOut, **WRITE_ERRORS, **problems(e503="Stripe unavailable: nothing was refunded")},
        summary="Refund part or all of what was paid (owners and admins)",
        description="Issues a credit note and a refund row, through the channel that took the money: a card "
        "payment is refunded through Stripe first (`method` stripe, `provider_reference` the Stripe "
        "refund), a manual one is recorded as a manual refund. One refund per Idempotency-Key; "
        "another key is another refund. More than paid and not yet refunded (or being refunded): 409 "
        "`refund_exceeds_refundable` (`refundable_cents`). Stripe unreachable: 503, nothing recorded.",
    )
    def post(self, request, invoice_id: int):
        if request.headers.get("Idempotency-Key") is None:
            raise ValidationFailed(
                "Creating a refund needs an Idempotency-Key header.",
                field_errors={"Idempotency-Key": ["required"]},
                code="idempotency_key_required",
            )
        data = validated(s.RefundIn, request.data)
        version = _expected_version(request, data.get("version"))
        credit_note = _refund(
            request, invoice_id, version=version, amount_cents=data["amount_cents"], reason=data["reason"]
        )
        refund = selectors.invoice_refund_list(tenant_id=request.tenant_id, invoice_id=invoice_id).get(
            credit_note=credit_note
        )
        return Response(s.RefundOut(refund).data, status=status.HTTP_201_CREATED)
