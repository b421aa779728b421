"""Transactions (purchases): what is read, the purchase and its actions."""

from __future__ import annotations

from rest_framework import serializers

from breederhq.api.disputes import invoice_dispute_field
from marketplace_app.api.serializers.choices import (
    TRANSACTION_ACTIONS,
)
from marketplace_app.api.serializers.providers import ProviderRef
from marketplace_app.models import (
    MarketplaceTransaction,
)
from tenant_app.api.serializers import StrictSerializer


class TransactionOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=MarketplaceTransaction.Status.choices)
    provider = ProviderRef()
    client_id = serializers.IntegerField()
    listing_id = serializers.IntegerField(allow_null=True)
    description = serializers.CharField()
    amount_cents = serializers.IntegerField()
    refunded_cents = serializers.IntegerField()
    currency = serializers.CharField()
    invoice_type = serializers.CharField(allow_null=True)
    invoice_id = serializers.IntegerField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _billing_invoice(tx: MarketplaceTransaction) -> tuple[str, int, int | None] | None:
    """The invoice billing a purchase: a breeder's tenant invoice (in the breeder's tenant) or a
    service provider's marketplace invoice; None before it is invoiced."""
    if tx.invoice_id is None:
        return None
    tenant_id = tx.provider.tenant_id if tx.invoice_type == MarketplaceTransaction.InvoiceType.TENANT else None
    return tx.invoice_type, tx.invoice_id, tenant_id


class TransactionDetailOut(TransactionOut):
    dispute = invoice_dispute_field(locate=_billing_invoice)(
        help_text="The buyer's dispute (chargeback) of the card payment of the invoice billing this, or null."
    )


class TransactionIn(StrictSerializer):
    listing_id = serializers.IntegerField(
        min_value=1, help_text="The active listing you buy; its price and title make the purchase."
    )


class TransactionPatch(StrictSerializer):
    action = serializers.ChoiceField(choices=TRANSACTION_ACTIONS)
