"""The buyer asks to pay an invoice by card and gets what Stripe's Payment Element needs.

- `POST /api/v1/marketplace/invoices/{id}/card-payment/`: a service provider's invoice; its buyer only.
- `POST /api/v1/marketplace/transactions/{id}/card-payment/`: the breeder's (tenant) invoice of one of
  your purchases, reached through the purchase as the buyer's receipt upload is.

Anyone but the buyer: 404 (a stranger learns nothing, not even that the invoice exists) or 403
`not_your_action` for the invoice's own seller. The work is `payments_app.card_payments`.
Repeating the call is safe by itself (the same PaymentIntent comes back), so it does not go through
the stored-response Idempotency-Key machinery: that would run the Stripe calls inside a database
transaction. A key sent anyway is accepted and changes nothing.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.schema import READ_ERRORS, problems
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound, PermissionDenied
from breederhq.tenancy import tenant_context
from marketplace_app import selectors
from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
from payments_app.card_payments import CardPayment, card_payment_prepare


class CardPaymentOut(serializers.Serializer):
    invoice_kind = serializers.ChoiceField(choices=["tenant", "marketplace"])
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField()
    payment_intent_id = serializers.CharField(help_text="Stripe's PaymentIntent id (pi_...).")
    client_secret = serializers.CharField(
        help_text="Give it to Stripe.js (`elements({clientSecret})`, then `confirmPayment`). Only for this buyer; "
        "never log or store it."
    )
    publishable_key = serializers.CharField(help_text="The platform's Stripe publishable key, for `Stripe(key)`.")
    amount_cents = serializers.IntegerField(help_text="What is still due, in the currency's minor unit.")
    currency = serializers.CharField(help_text="ISO 4217, upper case.")
    status = serializers.CharField(help_text="The PaymentIntent's status in Stripe (requires_payment_method, ...).")


CARD_PAYMENT_ERRORS = {
    **READ_ERRORS,
    **problems(
        e409="`invoice_not_payable` (not sent, already paid, void), `invoice_manual_mode` (paid by bank transfer or "
        "cash), `seller_account_cannot_take_charges`, `paid_by_card` (your payment succeeded: the invoice is "
        "marked paid when Stripe confirms), `payment_intent_processing` (your payment is under way), "
        "`card_payment_busy` (another request for the same invoice: retry)",
        e429="Throttled",
        e503="`stripe_unavailable`: Stripe cannot be reached; nothing was charged, retry later",
    ),
}

EXAMPLE = OpenApiExample(
    "A card payment",
    response_only=True,
    value={
        "invoice_kind": "marketplace",
        "invoice_id": 42,
        "invoice_number": "MP-7-000003",
        "payment_intent_id": "pi_3PabcDEF",
        "client_secret": "pi_3PabcDEF_secret_Xy12",
        "publishable_key": "pk_test_51...",
        "amount_cents": 8000,
        "currency": "USD",
        "status": "requires_payment_method",
    },
)


def _out(card: CardPayment) -> Response:
    return Response(CardPaymentOut(card).data, headers={"Cache-Control": "no-store"})


class _CardPaymentView(MarketplaceAPIView):
    serializer_class = CardPaymentOut

    def _idempotent(self, handler, header, request, *args, **kwargs):
        return handler(request, *args, **kwargs)  # idempotent by itself (see the module docstring)


class MarketplaceInvoiceCardPaymentView(_CardPaymentView):
    queryset = MarketplaceInvoice.objects.none()

    @extend_schema(
        operation_id="marketplace_invoices_card_payment",
        tags=["payments"],
        request=None,
        responses={200: CardPaymentOut, **CARD_PAYMENT_ERRORS},
        examples=[EXAMPLE],
        summary="Pay a service provider's invoice by card: the PaymentIntent for the Payment Element",
        description="The buyer only. Returns the invoice's one PaymentIntent for the amount still due "
        "(the same one on every call) and the publishable key. The invoice becomes paid "
        "when Stripe's `payment_intent.succeeded` webhook arrives, never by this call.",
    )
    def post(self, request, invoice_id: int):
        me = request.marketplace_user.pk
        invoice = selectors.marketplace_invoice_get_for_user(invoice_id=invoice_id, user_id=me)
        if invoice.client_id != me:
            raise PermissionDenied("Only the invoice's buyer pays it.", code="not_your_action")
        return _out(card_payment_prepare(invoice_kind="marketplace", invoice_id=invoice.pk))


class TransactionCardPaymentView(_CardPaymentView):
    queryset = MarketplaceTransaction.objects.none()

    @extend_schema(
        operation_id="marketplace_transactions_card_payment",
        tags=["payments"],
        request=None,
        responses={200: CardPaymentOut, **CARD_PAYMENT_ERRORS},
        examples=[EXAMPLE],
        summary="Pay the breeder's invoice of your purchase by card: the PaymentIntent for the Payment Element",
        description="The buyer of the purchase only (its breeder: 403 `not_your_action`). A purchase "
        "without a breeder's invoice yet is 409 `invoice_not_payable`.",
    )
    def post(self, request, transaction_id: int):
        from tenant_app.models import Invoice

        me = request.marketplace_user.pk
        tx = _transaction_for(me, transaction_id)
        if tx.client_id != me:
            raise PermissionDenied("Only the buyer pays for a purchase.", code="not_your_action")
        if (
            tx.invoice_type != MarketplaceTransaction.InvoiceType.TENANT
            or tx.invoice_id is None
            or tx.provider.tenant_id is None
        ):
            from payments_app.card_payments import InvoiceNotPayable

            raise InvoiceNotPayable(
                "This purchase has no breeder's invoice to pay yet.", extra={"invoice_status": None}
            )
        tenant_id = tx.provider.tenant_id
        with tenant_context(tenant_id):
            linked = Invoice.objects.filter(pk=tx.invoice_id).values_list("contact__marketplace_user_id", flat=True)
            buyer = linked.first()
        if buyer is not None and buyer != me:  # the breeder billed someone else for it
            raise PermissionDenied("This invoice is addressed to someone else.", code="not_your_action")
        return _out(card_payment_prepare(invoice_kind="tenant", invoice_id=tx.invoice_id, tenant_id=tenant_id))


def _transaction_for(user_id: int, transaction_id: int) -> MarketplaceTransaction:
    """The purchase or sale if `user_id` is its buyer or its provider's user; otherwise it does not exist."""
    from django.db.models import Q

    tx = (
        MarketplaceTransaction.objects.using(MARKETPLACE_DB)
        .select_related("provider")
        .filter(Q(client_id=user_id) | Q(provider__user_id=user_id), pk=transaction_id)
        .first()
    )
    if tx is None:
        raise NotFound(f"Transaction {transaction_id} not found.")
    return tx
