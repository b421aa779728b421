"""Back office for listing images and staff moderation (marketplace_app/listing_models.py).

Images are read-only here (a provider's own, changed through the API); the list shows each file's
link and the listing. Hiding and reinstating are actions on the listing page (marketplace_app/admin.py)
that call marketplace_app/moderation.py; this page lists the moderation state of every listing staff
ever moderated, and the suspension page the state of every provider staff ever suspended (the
suspend and reinstate actions are on the provider page and call marketplace_app/provider_suspension.py)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin
from marketplace_app.models import ListingModeration, ProviderSuspension, ServiceListingImage


class _ReadOnly(LargeTableAdminMixin, ReadOnlyAdminMixin):
    """Written by the platform, never by hand; big tables (no full count, index-backed searches)."""


@admin.register(ServiceListingImage)
class ServiceListingImageAdmin(_ReadOnly, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "id",
        "listing",
        "sort_order",
        "content_type",
        "width",
        "height",
        "byte_size",
        "has_thumbnail",
        "file",
        "created_at",
    )
    list_filter = ("content_type",)
    list_select_related = ("listing",)
    # No search: reached from the listing's page (a search by listing slug joins and cannot use its index).
    date_hierarchy = "created_at"
    readonly_fields = ("file",)

    @admin.display(boolean=True, description="thumbnail")
    def has_thumbnail(self, image) -> bool:
        return bool(image.thumbnail)

    @admin.display(description="file")
    def file(self, image):
        from marketplace_app.listing_images import image_file_url

        if image.original:
            return format_html(
                '<a href="{}" rel="noopener" target="_blank">original</a>',
                image_file_url(image.pk, "original", own_listing_id=None),
            )
        return (
            format_html('<a href="{}" rel="noopener noreferrer" target="_blank">outside URL</a>', image.url)
            if image.url
            else "-"
        )


@admin.register(ListingModeration)
class ListingModerationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("listing", "hidden", "reason", "hidden_count", "hidden_at", "hidden_by", "reinstated_at")
    list_filter = ("hidden",)
    list_select_related = ("listing",)
    # No search: reached from the listing's page (a search by listing slug joins and cannot use its index).


@admin.register(ProviderSuspension)
class ProviderSuspensionAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = (
        "provider",
        "suspended",
        "reason",
        "suspended_count",
        "suspended_at",
        "suspended_by",
        "reinstated_at",
    )
    list_filter = ("suspended",)
    list_select_related = ("provider",)
