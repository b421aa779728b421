"""Marketplace invoices: service providers bill, buyers pay."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, RECEIPT_FILE, WRITE_ERRORS
from breederhq.api.uploads import (
    RECEIPT_UPLOAD_PARSERS,
    ReceiptDownloadNegotiation,
    check_receipt,
    receipt_download,
)
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound, PermissionDenied, ValidationFailed
from breederhq.invoicing.timeline import TimelineEntryOut, invoice_timeline
from marketplace_app import selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.api.views.common import _ProviderView
from marketplace_app.invoicing import MARKETPLACE_INVOICES
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from tenant_app.accounts import require_verified_email

INVOICE_AS_PARAM = OpenApiParameter(
    "as",
    OpenApiTypes.STR,
    enum=["client", "provider"],
    required=False,
    description="Invoices you were sent (client, default) or you issued (provider).",
)
#: Actions of the buyer; every other action is the provider's.
BUYER_INVOICE_ACTIONS = frozenset({"mark_paid"})


def _invoice_response(request, invoice_id: int, *, status_code: int = 200) -> Response:
    invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
    return Response(
        s.MarketplaceInvoiceDetailOut(invoice).data, status=status_code, headers={"ETag": version_etag(invoice.version)}
    )


class MarketplaceInvoiceListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.MarketplaceInvoiceOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_list",
        tags=["marketplace"],
        parameters=[
            INVOICE_AS_PARAM,
            OpenApiParameter("status", OpenApiTypes.STR, required=False, enum=MarketplaceInvoice.Status.values),
        ],
        responses={200: s.MarketplaceInvoiceOut(many=True), **READ_ERRORS},
    )
    def get(self, request):
        side = request.query_params.get("as", "client")
        status_filter = request.query_params.get("status") or None
        if status_filter is not None and status_filter not in MarketplaceInvoice.Status.values:
            raise ValidationFailed("Unknown status.", field_errors={"status": ["not an invoice status"]})
        if side == "client":
            invoices = selectors.marketplace_invoice_list_for_client(
                client_id=request.marketplace_user.pk, status=status_filter
            )
        elif side == "provider":
            invoices = selectors.marketplace_invoice_list_for_provider(
                provider_id=self.provider(request).pk, status=status_filter
            )
        else:
            raise ValidationFailed("`as` is client or provider.", field_errors={"as": ["client or provider"]})
        page = self.paginate_queryset(invoices.select_related("provider").order_by("-created_at", "-id"))
        return self.get_paginated_response(s.MarketplaceInvoiceOut(page, many=True).data)

    @extend_schema(
        operation_id="marketplace_invoices_create",
        tags=["marketplace"],
        request=s.MarketplaceInvoiceIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
        summary="Bill one of your sales (service providers; breeders bill with tenant invoices)",
    )
    def post(self, request):
        require_verified_email(request.user, to="sell")
        data = validated(s.MarketplaceInvoiceIn, request.data)
        provider = self.provider(request)
        if (
            not MarketplaceTransaction.objects.using(MARKETPLACE_DB)
            .filter(pk=data["transaction_id"], provider_id=provider.pk)
            .exists()
        ):
            raise NotFound(f"Transaction {data['transaction_id']} not found.")
        invoice = services.marketplace_invoice_create(
            transaction_id=data["transaction_id"],
            tax_cents=data["tax_cents"],
            due_date=data["due_date"],
            actor_id=request.marketplace_user.pk,
            line_items=[
                services.LineItem(
                    description=line["description"],
                    quantity=line["quantity"],
                    unit_price_cents=line["unit_price_cents"],
                )
                for line in data["line_items"]
            ],
        )
        return _invoice_response(request, invoice.pk, status_code=status.HTTP_201_CREATED)


class MarketplaceInvoiceDetailView(MarketplaceAPIView):
    serializer_class = s.MarketplaceInvoiceDetailOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_retrieve",
        tags=["marketplace"],
        responses={200: s.MarketplaceInvoiceDetailOut, **READ_ERRORS},
    )
    def get(self, request, invoice_id: int):
        return _invoice_response(request, invoice_id)

    @extend_schema(
        operation_id="marketplace_invoices_update",
        tags=["marketplace"],
        request=s.MarketplaceInvoicePatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
        summary="A state change (`action`) at the version you last read",
        description="Provider: send, confirm_payment, reject_payment, void, refund (amount_cents). Buyer: mark_paid "
        "(receipt_url; deprecated: upload the file with POST invoices/{id}/receipt/) on a manual "
        "invoice. A stale version is 409 `version_conflict` with `current_version`.",
    )
    def patch(self, request, invoice_id: int):
        data = validated(s.MarketplaceInvoicePatch, request.data)
        version = expected_version_from_request(request, data.get("version"))
        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        action = data["action"]
        is_provider = invoice.provider.user_id == me
        if (action in BUYER_INVOICE_ACTIONS) == is_provider:
            raise PermissionDenied(
                f"Only the {'buyer' if action in BUYER_INVOICE_ACTIONS else 'provider'} may {action} this invoice.",
                code="not_your_action",
            )
        if action == "send":
            services.marketplace_invoice_send(invoice_id=invoice_id, expected_version=version, actor_id=me)
        elif action == "mark_paid":
            services.marketplace_invoice_buyer_mark_paid(
                invoice_id=invoice_id, buyer_id=me, receipt_url=data["receipt_url"], expected_version=version
            )
        elif action == "confirm_payment":
            services.marketplace_invoice_mark_paid(
                invoice_id=invoice_id, source="manual", expected_version=version, actor_id=me
            )
        elif action == "reject_payment":
            services.marketplace_invoice_reject_payment_claim(
                invoice_id=invoice_id, expected_version=version, actor_id=me
            )
        elif action == "void":
            services.marketplace_invoice_void(invoice_id=invoice_id, expected_version=version, actor_id=me)
        elif action == "refund":
            # Through the channel that took the money (Stripe for a card payment), one per key.
            from breederhq.invoicing.payments import invoice_refund_through_channel

            invoice_refund_through_channel(
                invoice_kind="marketplace",
                invoice_id=invoice_id,
                tenant_id=None,
                amount_cents=data["amount_cents"],
                key=request.headers.get("Idempotency-Key") or f"version:{version}",
                expected_version=version,
                reason="refunded by the provider",
                actor=me,
            )
        return _invoice_response(request, invoice_id)


class MarketplaceInvoiceTimelineView(MarketplaceAPIView):
    """The invoice's audit timeline (its buyer and its provider only; anyone else: 404, as the
    invoice): every change and every payment-confirmation step, oldest first. Same shape as tenant
    invoices'."""

    pagination_class = PageNumber
    serializer_class = TimelineEntryOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_timeline",
        tags=["marketplace"],
        responses={200: TimelineEntryOut(many=True), **READ_ERRORS},
        summary="The invoice's changes and payment-confirmation steps, oldest first",
    )
    def get(self, request, invoice_id: int):
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        page = self.paginate_queryset(invoice_timeline(MARKETPLACE_INVOICES, invoice))
        return self.get_paginated_response(TimelineEntryOut(page, many=True).data)


class MarketplaceInvoiceReceiptView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """The buyer's manual payment claim with the receipt file, as on tenant invoices
    (`POST /api/v1/invoices/{id}/receipt/`): checked by content and size, stored through Django's
    storage, and the invoice becomes pending_confirmation. GET: the file, for the buyer and the provider
    only (anyone else: 404, as the invoice)."""

    parser_classes = RECEIPT_UPLOAD_PARSERS

    serializer_class = s.MarketplaceReceiptIn
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_receipt_download",
        tags=["marketplace"],
        responses={**RECEIPT_FILE, **READ_ERRORS},
        summary="Download the buyer's receipt file (the buyer or the invoice's provider)",
    )
    def get(self, request, invoice_id: int):
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.number}")

    @extend_schema(
        operation_id="marketplace_invoices_receipt_upload",
        tags=["marketplace"],
        request={"multipart/form-data": s.MarketplaceReceiptIn},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
        summary="Upload your payment receipt (buyer, manual invoice): the invoice becomes pending_confirmation",
    )
    def post(self, request, invoice_id: int):
        data = validated(s.MarketplaceReceiptIn, request.data)
        version = expected_version_from_request(request, data.get("version"))
        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        if invoice.provider.user_id == me:
            raise PermissionDenied("Only the buyer may mark this invoice paid.", code="not_your_action")
        check_receipt(data["receipt"])
        services.marketplace_invoice_buyer_mark_paid(
            invoice_id=invoice_id, buyer_id=me, receipt=data["receipt"], expected_version=version
        )
        return _invoice_response(request, invoice_id)
