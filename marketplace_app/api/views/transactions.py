"""A marketplace user's own transactions: list and buy, read and act on one, the buyer's receipt
for a breeder's (tenant) invoice.
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.keyset import KeysetPagination
from breederhq.api.params import validated
from breederhq.api.schema import (
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_SCHEMA,
    READ_ERRORS,
    RECEIPT_FILE,
    WRITE_ERRORS,
    problems,
)
from breederhq.api.uploads import (
    RECEIPT_UPLOAD_PARSERS,
    ReceiptDownloadNegotiation,
    check_receipt,
    receipt_download,
)
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import NotFound, PermissionDenied, ValidationFailed
from marketplace_app import selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.models import MarketplaceTransaction
from tenant_app.accounts import require_verified_email
from tenant_app.api.serializers import ReceiptIn

AS_PARAM = OpenApiParameter(
    "as",
    OpenApiTypes.STR,
    enum=["client", "provider"],
    required=False,
    description="Your purchases (client, default) or your sales (provider).",
)


IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description="Required. Same key + same body replays the first response; another body -> 422; in flight -> 409.",
)


class TransactionListView(MarketplaceAPIView):
    pagination_class = KeysetPagination
    serializer_class = s.TransactionOut
    queryset = MarketplaceTransaction.objects.none()

    @extend_schema(
        operation_id="marketplace_transactions_create",
        tags=["marketplace"],
        request=s.TransactionIn,
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        responses={
            201: s.TransactionOut,
            **WRITE_ERRORS,
            **problems(e410="The provider left the marketplace (`provider_gone`): no new purchases"),
        },
        summary="Buy a listing: a purchase (you are the buyer) at the listing's price",
        description="Needs an Idempotency-Key (a retry replays the first answer). A listing that does not exist "
        "or is not on sale, or your own listing, is 400 `validation_failed`; a provider that blocked "
        "you is 403 `blocked_by_provider`; one that left is 410 `provider_gone`. An account whose email "
        "address is not confirmed yet is 403 `email_unverified`.",
    )
    def post(self, request):
        if request.headers.get("Idempotency-Key") is None:
            raise ValidationFailed(
                "Buying needs an Idempotency-Key header.",
                field_errors={"Idempotency-Key": ["required"]},
                code="idempotency_key_required",
            )
        require_verified_email(request.user, to="buy")
        data = validated(s.TransactionIn, request.data)
        provider_id = selectors.listing_provider_id(listing_id=data["listing_id"])
        if provider_id is None:
            raise ValidationFailed("That listing is not on sale.", field_errors={"listing_id": ["Not available."]})
        tx = services.transaction_create(
            provider_id=provider_id, client_id=request.marketplace_user.pk, listing_id=data["listing_id"]
        )
        tx = MarketplaceTransaction.objects.using(MARKETPLACE_DB).select_related("provider").get(pk=tx.pk)
        return Response(s.TransactionOut(tx).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="marketplace_transactions_list",
        tags=["marketplace"],
        parameters=[
            AS_PARAM,
            OpenApiParameter("status", OpenApiTypes.STR, required=False, enum=MarketplaceTransaction.Status.values),
        ],
        responses={200: s.TransactionOut(many=True), **READ_ERRORS},
    )
    def get(self, request):
        side = request.query_params.get("as", "client")
        status_filter = request.query_params.get("status") or None
        if status_filter is not None and status_filter not in MarketplaceTransaction.Status.values:
            raise ValidationFailed("Unknown status.", field_errors={"status": ["not a transaction status"]})
        if side == "client":
            owner = {"client_id": request.marketplace_user.pk}
        elif side == "provider":
            provider = getattr(request.marketplace_user, "provider", None)
            if provider is None:
                raise PermissionDenied("You are not a provider.", code="not_a_provider")
            owner = {"provider_id": provider.pk}
        else:
            raise ValidationFailed("`as` is client or provider.", field_errors={"as": ["client or provider"]})
        page = self.paginate_queryset(
            lambda position, limit: selectors.transaction_page(
                **owner, status=status_filter, position=position, limit=limit
            )
        )
        return self.get_paginated_response(s.transaction_rows_out(page))


class BuyerReceiptOut(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    invoice_status = serializers.CharField()
    invoice_version = serializers.IntegerField(
        help_text="The breeder's invoice version after the change (also the ETag)."
    )


class TransactionReceiptView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """The buyer says they paid a breeder's invoice manually and uploads the receipt. The invoice
    lives in the breeder's tenant: the write runs in that tenant's context (found through the
    transaction's provider), and the service checks the invoice's contact is this buyer. GET: the
    buyer's own receipt file back (the breeder's staff read it at `GET /api/v1/invoices/{id}/receipt/`)."""

    parser_classes = RECEIPT_UPLOAD_PARSERS

    # The effect is in the tenant database, so the Idempotency-Key and its response live there too.
    idempotency_database = TENANT_DB
    serializer_class = BuyerReceiptOut
    queryset = MarketplaceTransaction.objects.none()

    def _tenant_invoice_transaction(self, request, transaction_id: int) -> MarketplaceTransaction:
        tx = (
            MarketplaceTransaction.objects.using(MARKETPLACE_DB)
            .select_related("provider")
            .filter(pk=transaction_id, client_id=request.marketplace_user.pk)
            .first()
        )
        if tx is None:
            raise NotFound(f"Transaction {transaction_id} not found.")
        if (
            tx.invoice_type != MarketplaceTransaction.InvoiceType.TENANT
            or tx.invoice_id is None
            or tx.provider.tenant_id is None
        ):
            raise ValidationFailed(
                "This purchase has no breeder invoice to pay manually yet.", code="no_tenant_invoice"
            )
        return tx

    @extend_schema(
        operation_id="marketplace_transactions_receipt_download",
        tags=["marketplace"],
        responses={**RECEIPT_FILE, **READ_ERRORS, **problems(e400="No breeder invoice on this purchase")},
        summary="Download the receipt you uploaded for the breeder's invoice (the buyer)",
    )
    def get(self, request, transaction_id: int):
        from breederhq.tenancy import tenant_context
        from tenant_app.models import Invoice

        tx = self._tenant_invoice_transaction(request, transaction_id)
        with tenant_context(tx.provider.tenant_id):
            invoice = Invoice.objects.filter(pk=tx.invoice_id).only("invoice_number", "buyer_payment_receipt").first()
        if invoice is None:
            raise NotFound(f"Transaction {transaction_id} has no invoice.")
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.invoice_number}")

    @extend_schema(
        operation_id="marketplace_transactions_receipt_upload",
        tags=["marketplace"],
        request={"multipart/form-data": ReceiptIn},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={200: BuyerReceiptOut, **WRITE_ERRORS},
        summary="Upload your payment receipt: the breeder's invoice becomes pending_confirmation",
        description="Send the invoice `version` you last saw (body or If-Match); a stale one is 409 "
        "`version_conflict` with `current_version`. Without one the upload is not "
        "version-checked (older clients).",
    )
    def post(self, request, transaction_id: int):
        from breederhq.tenancy import tenant_context
        from tenant_app import services as tenant_services
        from tenant_app.models import Invoice

        data = validated(ReceiptIn, request.data)
        check_receipt(data["receipt"])
        # Optional here (unlike the other mark_paid endpoints): a buyer has no read of the breeder's
        # invoice before the first upload; when sent, it is compared under the invoice's row lock.
        sent_version = data.get("version") is not None or request.headers.get("If-Match") is not None
        version = expected_version_from_request(request, data.get("version")) if sent_version else None
        tx = self._tenant_invoice_transaction(request, transaction_id)
        with tenant_context(tx.provider.tenant_id):
            tenant_services.invoice_buyer_mark_paid(
                invoice_id=tx.invoice_id,
                receipt=data["receipt"],
                reference=data["reference"],
                marketplace_user_id=request.marketplace_user.pk,
                expected_version=version,
            )
            invoice_status, invoice_version = Invoice.objects.values_list("status", "version").get(pk=tx.invoice_id)
        return Response(
            BuyerReceiptOut(
                {
                    "transaction_id": tx.pk,
                    "invoice_id": tx.invoice_id,
                    "invoice_status": invoice_status,
                    "invoice_version": invoice_version,
                }
            ).data,
            headers={"ETag": version_etag(invoice_version)},
        )


class TransactionDetailView(MarketplaceAPIView):
    serializer_class = s.TransactionOut
    queryset = MarketplaceTransaction.objects.none()

    @staticmethod
    def _own(request, transaction_id: int) -> MarketplaceTransaction:
        me = request.marketplace_user.pk
        tx = (
            MarketplaceTransaction.objects.using(MARKETPLACE_DB)
            .select_related("provider")
            .filter(Q(client_id=me) | Q(provider__user_id=me), pk=transaction_id)
            .first()
        )
        if tx is None:
            raise NotFound(f"Transaction {transaction_id} not found.")
        return tx

    @extend_schema(
        operation_id="marketplace_transactions_retrieve",
        tags=["marketplace"],
        responses={200: s.TransactionDetailOut, **READ_ERRORS},
    )
    def get(self, request, transaction_id: int):
        return Response(s.TransactionDetailOut(self._own(request, transaction_id)).data)

    @extend_schema(
        operation_id="marketplace_transactions_update",
        tags=["marketplace"],
        request=s.TransactionPatch,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.TransactionOut, **WRITE_ERRORS},
        summary="Cancel (buyer or provider) while unpaid",
        description="A paid (or already cancelled) transaction is 409 `illegal_transition`; a sale whose "
        "marketplace invoice is not void is 409 `void_the_invoice` (void the invoice). "
        "Cancelling a breeder's sale voids its unpaid tenant invoice (through the outbox).",
    )
    def patch(self, request, transaction_id: int):
        validated(s.TransactionPatch, request.data)
        self._own(request, transaction_id)
        services.transaction_cancel(transaction_id=transaction_id)
        return Response(s.TransactionOut(self._own(request, transaction_id)).data)
