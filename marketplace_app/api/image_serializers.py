"""Shapes of listing images and of a listing's moderation in the API (marketplace_app/listing_images.py
and marketplace_app/moderation.py render them; these define the schema)."""

from __future__ import annotations

from rest_framework import serializers

from tenant_app.api.serializers import StrictSerializer


class ImageOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="The image (re-encoded, without metadata), or an outside image's URL.")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="Null until the thumbnail is made.")
    caption = serializers.CharField()
    sort_order = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    content_type = serializers.CharField(allow_null=True, help_text="image/jpeg, image/png or image/webp.")


class ImageUploadIn(StrictSerializer):
    image = serializers.FileField(
        help_text="JPEG, PNG or WebP (recognised by content); at most "
        "LISTING_IMAGE_MAX_BYTES and LISTING_IMAGE_MAX_PIXELS."
    )
    caption = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The listing version you last read; or send it as If-Match.",
    )


class ImageOrderIn(StrictSerializer):
    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=1000,
        help_text="Every image of the listing, once, in order.",
    )
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The listing version you last read; or send it as If-Match.",
    )


class OwnImagesOut(serializers.Serializer):
    listing_version = serializers.IntegerField(help_text="The listing's version after the change (the ETag).")
    images = ImageOut(many=True)


class ModerationOut(serializers.Serializer):
    hidden = serializers.BooleanField(
        help_text="Staff took the listing off the marketplace; it cannot be published until they reinstate it."
    )
    reason = serializers.CharField(help_text="What staff said when they hid (or reinstated) it.")
    hidden_at = serializers.DateTimeField(allow_null=True)
    reinstated_at = serializers.DateTimeField(allow_null=True)
