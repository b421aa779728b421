"""Listings: the public shapes and a provider's own (create, patch, actions)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from breederhq.money import (
    MAX_AMOUNT_CENTS,
)
from marketplace_app.api.image_serializers import ImageOut, ModerationOut
from marketplace_app.api.serializers.providers import ProviderRef
from marketplace_app.models import (
    ServiceListing,
)
from tenant_app.api.serializers import StrictSerializer


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


class ListingWithImagesOut(ListingOut):
    images = ImageOut(many=True, help_text="In the provider's order.")


class ListingDetailOut(ListingWithImagesOut):
    description = serializers.CharField()
    category_metadata = serializers.JSONField()
    images = ImageOut(many=True, source="shown_images", help_text="In the provider's order.")


class OwnListingOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=ServiceListing.Status.choices)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    category_metadata = serializers.JSONField()
    published_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField(help_text="Send it back (or If-Match) with a change.")
    moderation = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(ModerationOut)
    def get_moderation(self, listing) -> dict:
        from marketplace_app.moderation import moderation_out

        return ModerationOut(moderation_out(listing)).data


class _ListingFields(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices)
    price_cents = serializers.IntegerField(
        min_value=0, max_value=MAX_AMOUNT_CENTS, help_text="In minor units of the provider's currency."
    )
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    category_metadata = serializers.DictField(required=False, help_text="Free-form facts (breed, age, ...).")

    def validate_category_metadata(self, value):
        import json

        if len(json.dumps(value)) > 10000:
            raise serializers.ValidationError("at most 10000 characters of JSON")
        return value


class ListingCreateIn(_ListingFields):
    pass


LISTING_ACTIONS = ("publish", "unpublish", "archive")


class ListingPatch(_ListingFields):
    title = serializers.CharField(max_length=200, required=False)
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices, required=False)
    price_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, required=False)
    action = serializers.ChoiceField(
        choices=LISTING_ACTIONS,
        required=False,
        help_text="publish (on sale, public), unpublish (paused), archive (final).",
    )
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version you last read; or send it as If-Match."
    )

    def validate(self, attrs):
        fields = set(attrs) - {"version", "action"}
        if "action" in attrs and fields:
            raise serializers.ValidationError({"action": ["an action or field changes, not both"]})
        if "action" not in attrs and not fields:
            raise serializers.ValidationError({"action": ["send an action or at least one field to change"]})
        return attrs
