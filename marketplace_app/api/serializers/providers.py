"""Providers: the reference in other shapes, the public and own profile, suspension, create and patch."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from breederhq.api.currency_field import CurrencyChoiceField
from marketplace_app.models import (
    Provider,
    ServiceListing,
)
from tenant_app.api.serializers import StrictSerializer


class ProviderRef(serializers.Serializer):
    id = serializers.IntegerField()
    business_name = serializers.CharField()
    kind = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()


class ProviderListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)


class ProviderOut(serializers.Serializer):
    id = serializers.IntegerField()
    business_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    description = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    country = serializers.CharField()
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        allow_blank=True,
        help_text="What the provider mainly offers (a listing category), or empty.",
    )
    currency = serializers.CharField()
    total_listings = serializers.IntegerField()
    total_transactions = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ProviderDetailOut(ProviderOut):
    listings = ProviderListingOut(many=True, source="active_listings")


class SuspensionOut(serializers.Serializer):
    suspended = serializers.BooleanField(
        help_text="Staff suspended the profile: it and its listings are off the "
        "public marketplace, and publishing, new purchases and new "
        "threads are refused (409 `provider_suspended`)."
    )
    reason = serializers.CharField(help_text="What staff said when they suspended (or reinstated) it.")
    suspended_at = serializers.DateTimeField(allow_null=True)
    reinstated_at = serializers.DateTimeField(allow_null=True)


class ProviderOwnOut(ProviderOut):
    payment_mode = serializers.ChoiceField(choices=Provider.PaymentMode.choices)
    version = serializers.IntegerField(help_text="Send it back (or If-Match) with a change.")
    suspension = serializers.SerializerMethodField()

    @extend_schema_field(SuspensionOut)
    def get_suspension(self, provider) -> dict:
        from marketplace_app.provider_suspension import suspension_out

        return SuspensionOut(suspension_out(provider)).data


class ProviderPatch(StrictSerializer):
    business_name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        required=False,
        allow_blank=True,
        help_text="A listing category, or empty.",
    )
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )

    def validate(self, attrs):
        if not set(attrs) - {"version"}:
            raise serializers.ValidationError({"business_name": ["send at least one field to change"]})
        return attrs


class ProviderCreateIn(StrictSerializer):
    business_name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(
        choices=Provider.Kind.choices,
        default=Provider.Kind.SERVICE_PROVIDER,
        help_text="A breeder names its tenant (`tenant_id`, which you own).",
    )
    tenant_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    state = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    primary_category = serializers.ChoiceField(
        choices=ServiceListing.Category.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="What you mainly offer (a listing category).",
    )
    currency = CurrencyChoiceField(default="USD")
