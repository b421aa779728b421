"""Request and response shapes of the marketplace API (plain serializers: lists stay light)."""

from __future__ import annotations

from rest_framework import serializers

from marketplace_app.models import MarketplaceTransaction, ServiceListing
from tenant_app.api.serializers import StrictSerializer


TRANSACTION_STATUSES = MarketplaceTransaction.Status.choices


class ProviderRef(serializers.Serializer):
    id = serializers.IntegerField()
    business_name = serializers.CharField()
    kind = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()


class ImageOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    caption = serializers.CharField()
    sort_order = serializers.IntegerField()


class ListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    provider = ProviderRef()
    published_at = serializers.DateTimeField(allow_null=True)


class ListingDetailOut(ListingOut):
    description = serializers.CharField()
    category_metadata = serializers.JSONField()
    images = ImageOut(many=True, source="images.all")


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


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class ThreadOut(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    provider = ProviderRef()
    buyer = UserRef()
    listing_id = serializers.IntegerField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ThreadIn(StrictSerializer):
    provider_id = serializers.IntegerField(min_value=1)
    body = serializers.CharField(max_length=10_000)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    listing_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    thread_id = serializers.IntegerField()
    sender_id = serializers.IntegerField()
    body = serializers.CharField()
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class MessageIn(StrictSerializer):
    body = serializers.CharField(max_length=10_000)


class MessagePageOut(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older messages.")
    results = MessageOut(many=True)


class BlockOut(serializers.Serializer):
    blocked_user = UserRef()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class BlockIn(StrictSerializer):
    user_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
