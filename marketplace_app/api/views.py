"""Marketplace endpoints: public listing and provider search, and a marketplace user's own
transactions, invoices, threads, messages and (for providers) profile and blocks. Thin views over
marketplace_app services/selectors."""

from __future__ import annotations

import django_filters
from django.db import IntegrityError
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.keyset import KeysetPagination, Position, decode_position, encode_position
from breederhq.api.pagination import (
    MAX_PAGE_SIZE,
    PageNumber,
    RecentThreadsCursor,
    page_size_of,
)
from breederhq.api.schema import (
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_SCHEMA,
    READ_ERRORS,
    RECEIPT_FILE,
    WRITE_ERRORS,
    problems,
)
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.api.uploads import (
    RECEIPT_UPLOAD_PARSERS,
    ReceiptDownloadNegotiation,
    check_receipt,
    receipt_download,
)
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from breederhq.invoicing.timeline import TimelineEntryOut, invoice_timeline
from breederhq.read_replica import ReplicaReadsMixin
from marketplace_app import listing_images, selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.api.listing_search import ListingSearchParams, ListingSearchView  # noqa: F401 (urls, schema)
from marketplace_app.invoicing import MARKETPLACE_INVOICES
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceTransaction,
    MarketplaceUser,
    MessageThread,
    Provider,
    ServiceListing,
    UserBlock,
)
from tenant_app.accounts import require_verified_email
from tenant_app.api.serializers import ReceiptIn


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Listings (public) -----------------------------------------------------------------------------


class PublicAPIView(ReplicaReadsMixin, MarketplaceAPIView):
    # Anonymous reads of the public marketplace, throttled per client IP; from the marketplace
    # replica when there is one (breederhq/read_replica.py).
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicReadIPThrottle]


class ListingDetailView(PublicAPIView):
    serializer_class = s.ListingDetailOut

    @extend_schema(operation_id="listings_retrieve", tags=["marketplace"],
                   responses={200: s.ListingDetailOut, **problems(e404="No such active listing")})
    def get(self, request, slug: str):
        listing = selectors.listing_get_public(slug=slug)
        listing.shown_images = listing_images.images_by_listing([listing.pk], request=request)[listing.pk]
        return Response(s.ListingDetailOut(listing).data)


# --- Transactions (own only) -----------------------------------------------------------------------

AS_PARAM = OpenApiParameter("as", OpenApiTypes.STR, enum=["client", "provider"], required=False,
                            description="Your purchases (client, default) or your sales (provider).")


IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, OpenApiParameter.HEADER, required=True,
    description="Required. Same key + same body replays the first response; another body -> 422; in flight -> 409.",
)


class TransactionListView(MarketplaceAPIView):
    pagination_class = KeysetPagination
    serializer_class = s.TransactionOut
    queryset = MarketplaceTransaction.objects.none()

    @extend_schema(
        operation_id="marketplace_transactions_create", tags=["marketplace"], request=s.TransactionIn,
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        responses={201: s.TransactionOut, **WRITE_ERRORS,
                   **problems(e410="The provider left the marketplace (`provider_gone`): no new purchases")},
        summary="Buy a listing: a purchase (you are the buyer) at the listing's price",
        description="Needs an Idempotency-Key (a retry replays the first answer). A listing that does not exist "
                    "or is not on sale, or your own listing, is 400 `validation_failed`; a provider that blocked "
                    "you is 403 `blocked_by_provider`; one that left is 410 `provider_gone`. An account whose email "
                    "address is not confirmed yet is 403 `email_unverified`.",
    )
    def post(self, request):
        if request.headers.get("Idempotency-Key") is None:
            raise ValidationFailed("Buying needs an Idempotency-Key header.",
                                   field_errors={"Idempotency-Key": ["required"]}, code="idempotency_key_required")
        require_verified_email(request.user, to="buy")
        data = _valid(s.TransactionIn, request.data)
        provider_id = selectors.listing_provider_id(listing_id=data["listing_id"])
        if provider_id is None:
            raise ValidationFailed("That listing is not on sale.", field_errors={"listing_id": ["Not available."]})
        tx = services.transaction_create(provider_id=provider_id, client_id=request.marketplace_user.pk,
                                         listing_id=data["listing_id"])
        tx = MarketplaceTransaction.objects.using("marketplace").select_related("provider").get(pk=tx.pk)
        return Response(s.TransactionOut(tx).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="marketplace_transactions_list", tags=["marketplace"],
                   parameters=[AS_PARAM, OpenApiParameter("status", OpenApiTypes.STR, required=False,
                                                          enum=MarketplaceTransaction.Status.values)],
                   responses={200: s.TransactionOut(many=True), **READ_ERRORS})
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
        page = self.paginate_queryset(lambda position, limit: selectors.transaction_page(
            **owner, status=status_filter, position=position, limit=limit))
        return self.get_paginated_response(s.transaction_rows_out(page))


# --- Threads and messages (participants only) ------------------------------------------------------


#: Opening a thread with (or writing to) a provider that left the marketplace.
PROVIDER_GONE = problems(e410="The provider left the marketplace (`provider_gone`): no new messages")


class ThreadListView(MarketplaceAPIView):
    pagination_class = RecentThreadsCursor
    serializer_class = s.ThreadOut
    queryset = MessageThread.objects.none()

    @extend_schema(operation_id="threads_list", tags=["marketplace"],
                   responses={200: s.ThreadOut(many=True), **READ_ERRORS})
    def get(self, request):
        page = self.paginate_queryset(selectors.thread_list_for_user(user_id=request.marketplace_user.pk))
        return self.get_paginated_response(s.ThreadOut(page, many=True).data)

    @extend_schema(operation_id="threads_open", tags=["marketplace"], request=s.ThreadIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.ThreadOut, **WRITE_ERRORS, **PROVIDER_GONE})
    def post(self, request):
        data = _valid(s.ThreadIn, request.data)
        thread = services.message_thread_open(buyer_id=request.marketplace_user.pk, **data)
        thread = selectors.thread_get_for_user(thread_id=thread.pk, user_id=request.marketplace_user.pk)
        return Response(s.ThreadOut(thread).data, status=status.HTTP_201_CREATED)


class MessageListView(MarketplaceAPIView):
    """Newest first, keyset by (created_at, id) with the bound that prunes partitions."""

    serializer_class = s.MessageOut

    @extend_schema(operation_id="messages_list", tags=["marketplace"],
                   parameters=[OpenApiParameter("cursor", {"type": "string", "maxLength": 500}, required=False),
                               OpenApiParameter("page_size", {"type": "integer", "minimum": 1,
                                                              "maximum": MAX_PAGE_SIZE}, required=False,
                                                description="Messages per page (default 50).")],
                   responses={200: s.MessagePageOut, **READ_ERRORS})
    def get(self, request, thread_id: int):
        raw = request.query_params.get("cursor")
        position = decode_position(raw, allow_newer=False) if raw else None
        before = (position.created_at, position.id) if position else None
        size = page_size_of(request, default=50)
        span = selectors.thread_span_for_user(thread_id=thread_id, user_id=request.marketplace_user.pk)
        rows = selectors.message_page(thread_id=thread_id, span=span, before=before, limit=size + 1,
                                      values=s.MESSAGE_VALUES)
        more, rows = len(rows) > size, rows[:size]
        return Response({"next": encode_position(Position(rows[-1]["created_at"], rows[-1]["id"])) if more else None, "results": s.message_rows_out(rows)})

    @extend_schema(operation_id="messages_send", tags=["marketplace"], request=s.MessageIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.MessageOut, **WRITE_ERRORS, **PROVIDER_GONE})
    def post(self, request, thread_id: int):
        data = _valid(s.MessageIn, request.data)
        message = services.message_send(thread_id=thread_id, sender_id=request.marketplace_user.pk, body=data["body"])
        return Response(s.MessageOut(message).data, status=status.HTTP_201_CREATED)


# --- Blocks (providers) ----------------------------------------------------------------------------


class _ProviderView(MarketplaceAPIView):
    def provider(self, request):
        provider = getattr(request.marketplace_user, "provider", None)
        if provider is None or provider.deleted_at is not None:
            raise PermissionDenied("You are not a provider.", code="not_a_provider")
        return provider


class BlockListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.BlockOut
    queryset = UserBlock.objects.none()

    @extend_schema(operation_id="blocks_list", tags=["marketplace"],
                   responses={200: s.BlockOut(many=True), **READ_ERRORS})
    def get(self, request):
        blocks = (UserBlock.objects.using("marketplace").filter(provider=self.provider(request))
                  .select_related("blocked_user").order_by("-created_at", "-id"))
        page = self.paginate_queryset(blocks)
        return self.get_paginated_response(s.BlockOut(page, many=True).data)

    @extend_schema(operation_id="blocks_create", tags=["marketplace"], request=s.BlockIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.BlockOut, **WRITE_ERRORS})
    def post(self, request):
        data = _valid(s.BlockIn, request.data)
        if not MarketplaceUser.objects.using("marketplace").filter(pk=data["user_id"]).exists():
            raise NotFound(f"Marketplace user {data['user_id']} not found.")
        block = services.user_block_create(provider_id=self.provider(request).pk, user_id=data["user_id"],
                                           reason=data["reason"])
        block = UserBlock.objects.using("marketplace").select_related("blocked_user").get(pk=block.pk)
        return Response(s.BlockOut(block).data, status=status.HTTP_201_CREATED)


class BlockDetailView(_ProviderView):
    serializer_class = s.BlockOut

    @extend_schema(operation_id="blocks_delete", tags=["marketplace"], responses={204: None, **READ_ERRORS})
    def delete(self, request, user_id: int):
        if not services.user_block_delete(provider_id=self.provider(request).pk, user_id=user_id):
            raise NotFound(f"User {user_id} is not blocked.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- A buyer's receipt for a breeder's (tenant) invoice ----------------------------------------------


class BuyerReceiptOut(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    invoice_status = serializers.CharField()
    invoice_version = serializers.IntegerField(help_text="The breeder's invoice version after the change (also the ETag).")


class TransactionReceiptView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    """The buyer says they paid a breeder's invoice manually and uploads the receipt. The invoice
    lives in the breeder's tenant: the write runs in that tenant's context (found through the
    transaction's provider), and the service checks the invoice's contact is this buyer. GET: the
    buyer's own receipt file back (the breeder's staff read it at `GET /api/v1/invoices/{id}/receipt/`)."""

    parser_classes = RECEIPT_UPLOAD_PARSERS

    # The effect is in the tenant database, so the Idempotency-Key and its response live there too.
    idempotency_database = "default"
    serializer_class = BuyerReceiptOut
    queryset = MarketplaceTransaction.objects.none()

    def _tenant_invoice_transaction(self, request, transaction_id: int) -> MarketplaceTransaction:
        tx = (MarketplaceTransaction.objects.using("marketplace").select_related("provider")
              .filter(pk=transaction_id, client_id=request.marketplace_user.pk).first())
        if tx is None:
            raise NotFound(f"Transaction {transaction_id} not found.")
        if tx.invoice_type != MarketplaceTransaction.InvoiceType.TENANT or tx.invoice_id is None \
                or tx.provider.tenant_id is None:
            raise ValidationFailed("This purchase has no breeder invoice to pay manually yet.",
                                   code="no_tenant_invoice")
        return tx

    @extend_schema(operation_id="marketplace_transactions_receipt_download", tags=["marketplace"],
                   responses={**RECEIPT_FILE, **READ_ERRORS, **problems(e400="No breeder invoice on this purchase")},
                   summary="Download the receipt you uploaded for the breeder's invoice (the buyer)")
    def get(self, request, transaction_id: int):
        from breederhq.tenancy import tenant_context
        from tenant_app.models import Invoice

        tx = self._tenant_invoice_transaction(request, transaction_id)
        with tenant_context(tx.provider.tenant_id):
            invoice = Invoice.objects.filter(pk=tx.invoice_id).only("invoice_number", "buyer_payment_receipt").first()
        if invoice is None:
            raise NotFound(f"Transaction {transaction_id} has no invoice.")
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.invoice_number}")

    @extend_schema(operation_id="marketplace_transactions_receipt_upload", tags=["marketplace"],
                   request={"multipart/form-data": ReceiptIn}, parameters=[IF_MATCH, IDEMPOTENCY_KEY],
                   responses={200: BuyerReceiptOut, **WRITE_ERRORS},
                   summary="Upload your payment receipt: the breeder's invoice becomes pending_confirmation",
                   description="Send the invoice `version` you last saw (body or If-Match); a stale one is 409 "
                               "`version_conflict` with `current_version`. Without one the upload is not "
                               "version-checked (older clients).")
    def post(self, request, transaction_id: int):
        from breederhq.tenancy import tenant_context
        from tenant_app import services as tenant_services
        from tenant_app.models import Invoice

        data = _valid(ReceiptIn, request.data)
        check_receipt(data["receipt"])
        # Optional here (unlike the other mark_paid endpoints): a buyer has no read of the breeder's
        # invoice before the first upload; when sent, it is compared under the invoice's row lock.
        sent_version = data.get("version") is not None or request.headers.get("If-Match") is not None
        version = expected_version_from_request(request, data.get("version")) if sent_version else None
        tx = self._tenant_invoice_transaction(request, transaction_id)
        with tenant_context(tx.provider.tenant_id):
            tenant_services.invoice_buyer_mark_paid(
                invoice_id=tx.invoice_id, receipt=data["receipt"], reference=data["reference"],
                marketplace_user_id=request.marketplace_user.pk, expected_version=version,
            )
            invoice_status, invoice_version = Invoice.objects.values_list("status", "version").get(pk=tx.invoice_id)
        return Response(BuyerReceiptOut({"transaction_id": tx.pk, "invoice_id": tx.invoice_id,
                                         "invoice_status": invoice_status, "invoice_version": invoice_version}).data,
                        headers={"ETag": version_etag(invoice_version)})


# --- Transactions: actions -------------------------------------------------------------------------


class TransactionDetailView(MarketplaceAPIView):
    serializer_class = s.TransactionOut
    queryset = MarketplaceTransaction.objects.none()

    @staticmethod
    def _own(request, transaction_id: int) -> MarketplaceTransaction:
        me = request.marketplace_user.pk
        tx = (MarketplaceTransaction.objects.using("marketplace").select_related("provider")
              .filter(Q(client_id=me) | Q(provider__user_id=me), pk=transaction_id).first())
        if tx is None:
            raise NotFound(f"Transaction {transaction_id} not found.")
        return tx

    @extend_schema(operation_id="marketplace_transactions_retrieve", tags=["marketplace"],
                   responses={200: s.TransactionOut, **READ_ERRORS})
    def get(self, request, transaction_id: int):
        return Response(s.TransactionOut(self._own(request, transaction_id)).data)

    @extend_schema(operation_id="marketplace_transactions_update", tags=["marketplace"], request=s.TransactionPatch,
                   parameters=[IDEMPOTENCY_KEY], responses={200: s.TransactionOut, **WRITE_ERRORS},
                   summary="Cancel (buyer or provider) while unpaid",
                   description="A paid (or already cancelled) transaction is 409 `illegal_transition`; a sale whose "
                               "marketplace invoice is not void is 409 `void_the_invoice` (void the invoice). "
                               "Cancelling a breeder's sale voids its unpaid tenant invoice (through the outbox).")
    def patch(self, request, transaction_id: int):
        _valid(s.TransactionPatch, request.data)
        self._own(request, transaction_id)
        services.transaction_cancel(transaction_id=transaction_id)
        return Response(s.TransactionOut(self._own(request, transaction_id)).data)


# --- Marketplace invoices (service providers bill, buyers pay) -------------------------------------

INVOICE_AS_PARAM = OpenApiParameter("as", OpenApiTypes.STR, enum=["client", "provider"], required=False,
                                    description="Invoices you were sent (client, default) or you issued (provider).")
#: Actions of the buyer; every other action is the provider's.
BUYER_INVOICE_ACTIONS = frozenset({"mark_paid"})


def _invoice_response(request, invoice_id: int, *, status_code: int = 200) -> Response:
    invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
    return Response(s.MarketplaceInvoiceDetailOut(invoice).data, status=status_code,
                    headers={"ETag": version_etag(invoice.version)})


class MarketplaceInvoiceListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.MarketplaceInvoiceOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(operation_id="marketplace_invoices_list", tags=["marketplace"],
                   parameters=[INVOICE_AS_PARAM, OpenApiParameter("status", OpenApiTypes.STR, required=False,
                                                                  enum=MarketplaceInvoice.Status.values)],
                   responses={200: s.MarketplaceInvoiceOut(many=True), **READ_ERRORS})
    def get(self, request):
        side = request.query_params.get("as", "client")
        status_filter = request.query_params.get("status") or None
        if status_filter is not None and status_filter not in MarketplaceInvoice.Status.values:
            raise ValidationFailed("Unknown status.", field_errors={"status": ["not an invoice status"]})
        if side == "client":
            invoices = selectors.marketplace_invoice_list_for_client(client_id=request.marketplace_user.pk,
                                                                     status=status_filter)
        elif side == "provider":
            invoices = selectors.marketplace_invoice_list_for_provider(provider_id=self.provider(request).pk,
                                                                       status=status_filter)
        else:
            raise ValidationFailed("`as` is client or provider.", field_errors={"as": ["client or provider"]})
        page = self.paginate_queryset(invoices.select_related("provider").order_by("-created_at", "-id"))
        return self.get_paginated_response(s.MarketplaceInvoiceOut(page, many=True).data)

    @extend_schema(operation_id="marketplace_invoices_create", tags=["marketplace"], request=s.MarketplaceInvoiceIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
                   summary="Bill one of your sales (service providers; breeders bill with tenant invoices)")
    def post(self, request):
        require_verified_email(request.user, to="sell")
        data = _valid(s.MarketplaceInvoiceIn, request.data)
        provider = self.provider(request)
        if not MarketplaceTransaction.objects.using("marketplace").filter(
                pk=data["transaction_id"], provider_id=provider.pk).exists():
            raise NotFound(f"Transaction {data['transaction_id']} not found.")
        invoice = services.marketplace_invoice_create(
            transaction_id=data["transaction_id"], tax_cents=data["tax_cents"], due_at=data["due_at"],
            actor_id=request.marketplace_user.pk,
            line_items=[services.LineItem(description=line["description"], quantity=line["quantity"],
                                          unit_price_cents=line["unit_price_cents"]) for line in data["line_items"]],
        )
        return _invoice_response(request, invoice.pk, status_code=status.HTTP_201_CREATED)


class MarketplaceInvoiceDetailView(MarketplaceAPIView):
    serializer_class = s.MarketplaceInvoiceDetailOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(operation_id="marketplace_invoices_retrieve", tags=["marketplace"],
                   responses={200: s.MarketplaceInvoiceDetailOut, **READ_ERRORS})
    def get(self, request, invoice_id: int):
        return _invoice_response(request, invoice_id)

    @extend_schema(
        operation_id="marketplace_invoices_update", tags=["marketplace"], request=s.MarketplaceInvoicePatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
        summary="A state change (`action`) at the version you last read",
        description="Provider: send, confirm_payment, reject_payment, void, refund (amount_cents). Buyer: mark_paid "
                    "(receipt_url; deprecated: upload the file with POST invoices/{id}/receipt/) on a manual "
                    "invoice. A stale version is 409 `version_conflict` with `current_version`.",
    )
    def patch(self, request, invoice_id: int):
        data = _valid(s.MarketplaceInvoicePatch, request.data)
        version = expected_version_from_request(request, data.get("version"))
        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        action = data["action"]
        is_provider = invoice.provider.user_id == me
        if (action in BUYER_INVOICE_ACTIONS) == is_provider:
            raise PermissionDenied(
                f"Only the {'buyer' if action in BUYER_INVOICE_ACTIONS else 'provider'} may {action} this invoice.",
                code="not_your_action")
        if action == "send":
            services.marketplace_invoice_send(invoice_id=invoice_id, expected_version=version, actor_id=me)
        elif action == "mark_paid":
            services.marketplace_invoice_buyer_mark_paid(invoice_id=invoice_id, buyer_id=me,
                                                         receipt_url=data["receipt_url"], expected_version=version)
        elif action == "confirm_payment":
            services.marketplace_invoice_mark_paid(invoice_id=invoice_id, source="manual", expected_version=version,
                                                   actor_id=me)
        elif action == "reject_payment":
            services.marketplace_invoice_reject_payment_claim(invoice_id=invoice_id, expected_version=version,
                                                              actor_id=me)
        elif action == "void":
            services.marketplace_invoice_void(invoice_id=invoice_id, expected_version=version, actor_id=me)
        elif action == "refund":
            # Through the channel that took the money (Stripe for a card payment), one per key.
            from breederhq.invoicing.payments import invoice_refund_through_channel

            invoice_refund_through_channel(
                invoice_kind="marketplace", invoice_id=invoice_id, tenant_id=None, amount_cents=data["amount_cents"],
                key=request.headers.get("Idempotency-Key") or f"version:{version}", expected_version=version,
                reason="refunded by the provider", actor=me)
        return _invoice_response(request, invoice_id)


class MarketplaceInvoiceTimelineView(MarketplaceAPIView):
    """The invoice's audit timeline (its buyer and its provider only; anyone else: 404, as the
    invoice): every change and every payment-confirmation step, oldest first. Same shape as tenant
    invoices'."""

    pagination_class = PageNumber
    serializer_class = TimelineEntryOut
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(operation_id="marketplace_invoices_timeline", tags=["marketplace"],
                   responses={200: TimelineEntryOut(many=True), **READ_ERRORS},
                   summary="The invoice's changes and payment-confirmation steps, oldest first")
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

    @extend_schema(operation_id="marketplace_invoices_receipt_download", tags=["marketplace"],
                   responses={**RECEIPT_FILE, **READ_ERRORS},
                   summary="Download the buyer's receipt file (the buyer or the invoice's provider)")
    def get(self, request, invoice_id: int):
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=request.marketplace_user.pk)
        return receipt_download(invoice.buyer_payment_receipt, filename=f"receipt-{invoice.number}")

    @extend_schema(operation_id="marketplace_invoices_receipt_upload", tags=["marketplace"],
                   request={"multipart/form-data": s.MarketplaceReceiptIn}, parameters=[IF_MATCH, IDEMPOTENCY_KEY],
                   responses={200: s.MarketplaceInvoiceDetailOut, **WRITE_ERRORS},
                   summary="Upload your payment receipt (buyer, manual invoice): the invoice becomes "
                           "pending_confirmation")
    def post(self, request, invoice_id: int):
        data = _valid(s.MarketplaceReceiptIn, request.data)
        version = expected_version_from_request(request, data.get("version"))
        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        if invoice.provider.user_id == me:
            raise PermissionDenied("Only the buyer may mark this invoice paid.", code="not_your_action")
        check_receipt(data["receipt"])
        services.marketplace_invoice_buyer_mark_paid(invoice_id=invoice_id, buyer_id=me, receipt=data["receipt"],
                                                     expected_version=version)
        return _invoice_response(request, invoice_id)


# --- Providers -------------------------------------------------------------------------------------


class ProviderFilter(django_filters.FilterSet):
    """Public provider search. `category` is what a provider offers (an active listing in it):
    species (puppies, kittens, stud) and service types (grooming, training, ...)."""

    q = django_filters.CharFilter(method="_deferred", max_length=200, label="Full text (websearch syntax)")
    kind = django_filters.ChoiceFilter(choices=Provider.Kind.choices, label="breeder or service_provider")
    primary_category = django_filters.ChoiceFilter(choices=ServiceListing.Category.choices,
                                                   label="The provider's own primary category")
    category = django_filters.ChoiceFilter(choices=ServiceListing.Category.choices, method="_offering",
                                           label="Offers an active listing in this category")
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact", max_length=100)
    state = django_filters.CharFilter(field_name="state", lookup_expr="iexact", max_length=50)
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact", max_length=2)
    order = django_filters.ChoiceFilter(choices=[(o, o) for o in selectors.PROVIDER_ORDERS], method="_deferred",
                                        label="relevance (default; newest without q), newest, name, popular")

    class Meta:
        model = Provider
        fields = ["kind", "primary_category", "city", "state", "country"]

    def _deferred(self, queryset, name, value):
        return queryset  # q and order are applied together in filter_queryset (relevance needs both)

    def _offering(self, queryset, name, value):
        return selectors.provider_offering(queryset, category=value)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return selectors.provider_search(queryset, query=self.form.cleaned_data.get("q"),
                                         order=self.form.cleaned_data.get("order") or "relevance")


class ProviderListView(PublicAPIView):
    pagination_class = PageNumber
    filterset_class = ProviderFilter
    serializer_class = s.ProviderOut

    def get_queryset(self):
        return selectors.provider_list_public()

    @extend_schema(operation_id="providers_list", tags=["marketplace"],
                   responses={200: s.ProviderOut(many=True), **problems(
                       e400="Invalid filter", e429="Throttled",
                       e503="The search ran past its time limit (`search_timeout`, the limit in `timeout_ms`): "
                            "narrow it")},
                   summary="Live providers: filters, full-text search, ordering (public)")
    def get(self, request):
        with selectors.provider_search_time_limit():  # the count and the page
            page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.ProviderOut(page, many=True).data)


class ProviderDetailView(PublicAPIView):
    serializer_class = s.ProviderDetailOut

    @extend_schema(operation_id="providers_retrieve", tags=["marketplace"],
                   responses={200: s.ProviderDetailOut, **problems(e404="No such provider", e429="Throttled")},
                   summary="A provider's public profile with its active listings")
    def get(self, request, provider_id: int):
        return Response(s.ProviderDetailOut(selectors.provider_get_public(provider_id=provider_id)).data)


class ProviderMeView(_ProviderView):
    serializer_class = s.ProviderOwnOut

    def get_permissions(self):
        if self.request.method == "POST":  # creating the profile may create the marketplace identity too
            return [IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(operation_id="providers_me_create", tags=["marketplace"], request=s.ProviderCreateIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.ProviderOwnOut, **WRITE_ERRORS, **problems(
                       e403="`email_unverified` (confirm your address first), `not_a_tenant_owner` (breeder)",
                       e409="`already_a_provider`, `marketplace_email_taken`, or an Idempotency-Key in flight")},
                   summary="Become a provider: create your public provider profile",
                   description="Needs a confirmed email address. Makes your marketplace identity if you have "
                               "none yet: refresh your access token afterwards. A breeder names the tenant it "
                               "owns (`tenant_id`).")
    def post(self, request):
        require_verified_email(request.user, to="sell")
        data = _valid(s.ProviderCreateIn, request.data)
        kind, tenant_id = data.pop("kind"), data.pop("tenant_id", None)
        if kind == Provider.Kind.BREEDER:
            _require_tenant_owner(request.user, tenant_id)
        identity = request.marketplace_user or services.marketplace_identity_for(
            tenant_user_id=request.user.pk, email=request.user.email,
            display_name=request.user.get_full_name() or data["business_name"])
        if Provider.all_objects.using("marketplace").filter(user_id=identity.pk).exists():
            raise Conflict("You have a provider profile already (a withdrawn one cannot be made again here).",
                           code="already_a_provider")
        try:
            provider = services.provider_create(user=identity, kind=kind, tenant_id=tenant_id, **data)
        except IntegrityError as exc:  # one provider per marketplace identity: a simultaneous create won
            raise Conflict("You have a provider profile already.", code="already_a_provider") from exc
        return Response(s.ProviderOwnOut(provider).data, status=status.HTTP_201_CREATED,
                        headers={"ETag": version_etag(provider.version)})

    @extend_schema(operation_id="providers_me_withdraw", tags=["marketplace"], request=None,
                   responses={204: None, **WRITE_ERRORS, **problems(
                       e409="`provider_has_open_transactions`: finish or cancel the sales in `transaction_ids`")},
                   summary="Leave the marketplace: your listings are archived and your profile withdrawn",
                   description="A soft delete: your past sales and invoices keep resolving. Refused while a "
                               "sale is unfinished (pending invoice, invoiced, disputed).")
    def delete(self, request):
        services.provider_withdraw(provider_id=self.provider(request).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="providers_me", tags=["marketplace"], responses={200: s.ProviderOwnOut, **READ_ERRORS})
    def get(self, request):
        provider = self.provider(request)
        return Response(s.ProviderOwnOut(provider).data, headers={"ETag": version_etag(provider.version)})

    @extend_schema(operation_id="providers_me_update", tags=["marketplace"], request=s.ProviderPatch,
                   parameters=[IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.ProviderOwnOut, **WRITE_ERRORS},
                   summary="Edit your public profile at the version you last read",
                   description="Send `version` (or If-Match); a stale one is 409 `version_conflict` with "
                               "`current_version`.")
    def patch(self, request):
        data = _valid(s.ProviderPatch, request.data)
        version = expected_version_from_request(request, data.pop("version", None))
        provider = services.provider_update_profile(provider_id=self.provider(request).pk, expected_version=version,
                                                    **data)
        return Response(s.ProviderOwnOut(provider).data, headers={"ETag": version_etag(provider.version)})


def _require_tenant_owner(user, tenant_id) -> None:
    from breederhq.tenancy import tenant_context
    from tenant_app.models import TenantMembership

    if tenant_id is None:
        raise ValidationFailed("A breeder provider names its tenant.", field_errors={"tenant_id": ["Required."]})
    with tenant_context(tenant_id):
        owner = TenantMembership.objects.filter(tenant_id=tenant_id, user_id=user.pk, role="owner").exists()
    if not owner:
        raise PermissionDenied("Only an owner of that tenant can make it a breeder provider.",
                               code="not_a_tenant_owner")


# --- Self-service listings (the signed-in provider's own) ----------------------------------------------


def _own_listing_response(listing: ServiceListing, status_code: int = 200) -> Response:
    return Response(s.OwnListingOut(listing).data, status=status_code, headers={"ETag": version_etag(listing.version)})


class OwnListingListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.OwnListingOut
    queryset = ServiceListing.objects.none()  # for the schema

    @extend_schema(operation_id="own_listings_list", tags=["marketplace"],
                   responses={200: s.OwnListingOut(many=True), **READ_ERRORS},
                   summary="Your listings in every status (draft, active, paused, archived), newest first")
    def get(self, request):
        listings = (ServiceListing.objects.using("marketplace").filter(provider_id=self.provider(request).pk)
                    .select_related("moderation").order_by("-created_at", "-id"))
        page = self.paginate_queryset(listings)
        return self.get_paginated_response(s.OwnListingOut(page, many=True).data)

    @extend_schema(operation_id="own_listings_create", tags=["marketplace"], request=s.ListingCreateIn,
                   parameters=[IDEMPOTENCY_KEY], responses={201: s.OwnListingOut, **WRITE_ERRORS, **problems(
                       e403="`not_a_provider`, `email_unverified`", e410="`provider_gone`")},
                   summary="Create a listing (a draft: publish it to put it on sale)",
                   description="The price is in minor units of your provider currency.")
    def post(self, request):
        provider = self.provider(request)
        require_verified_email(request.user, to="sell")
        data = _valid(s.ListingCreateIn, request.data)
        listing = services.listing_create(provider_id=provider.pk, **data)
        return _own_listing_response(listing, status.HTTP_201_CREATED)


class OwnListingDetailView(_ProviderView):
    serializer_class = s.OwnListingOut

    def _get(self, request, listing_id: int) -> ServiceListing:
        listing = (ServiceListing.objects.using("marketplace").select_related("moderation")
                   .filter(pk=listing_id, provider_id=self.provider(request).pk).first())
        if listing is None:
            raise NotFound(f"Listing {listing_id} not found.")
        return listing

    @extend_schema(operation_id="own_listings_retrieve", tags=["marketplace"],
                   responses={200: s.OwnListingOut, **READ_ERRORS})
    def get(self, request, listing_id: int):
        return _own_listing_response(self._get(request, listing_id))

    @extend_schema(operation_id="own_listings_update", tags=["marketplace"], request=s.ListingPatch,
                   parameters=[IF_MATCH, IDEMPOTENCY_KEY], responses={200: s.OwnListingOut, **WRITE_ERRORS, **problems(
                       e403="`not_a_provider`, `email_unverified` (publishing)",
                       e409="`version_conflict` (`current_version`), `illegal_transition`, `listing_archived`")},
                   summary="Edit a listing, or publish / unpublish / archive it, at the version you last read",
                   description="Either `action` or fields, with `version` (or If-Match). Only published "
                               "(active) listings are public and searchable; the search sees a change at once.")
    def patch(self, request, listing_id: int):
        provider = self.provider(request)
        data = _valid(s.ListingPatch, request.data)
        version = expected_version_from_request(request, data.pop("version", None))
        action = data.pop("action", None)
        if action is not None:
            if action == "publish":
                require_verified_email(request.user, to="sell")
            target = {"publish": ServiceListing.Status.ACTIVE, "unpublish": ServiceListing.Status.PAUSED,
                      "archive": ServiceListing.Status.ARCHIVED}[action]
            listing = services.listing_transition(listing_id=listing_id, target=target, expected_version=version,
                                                  provider_id=provider.pk)
        else:
            listing = services.listing_update(listing_id=listing_id, provider_id=provider.pk,
                                              expected_version=version, **data)
        return _own_listing_response(listing)
