"""Models of a listing's images and of its moderation (marketplace database). Imported by
marketplace_app/models/__init__.py, so they are the app's models like the others.

The services that write them: marketplace_app/listing_images.py and marketplace_app/moderation.py.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


def listing_image_path(instance: ServiceListingImage, filename: str) -> str:
    """A fresh name per stored file, never a client's: no two rows can name the same file, so
    deleting one row's files never takes another's."""
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
    return f"marketplace/listing-images/{instance.listing_id}/{uuid.uuid4().hex}.{extension}"


class ServiceListingImage(models.Model):
    """One image of a listing, in the order the provider gave (`sort_order`).

    An uploaded image is stored re-encoded (`original`: no EXIF or other metadata, the type its bytes
    showed) and gets its `thumbnail` from a worker shortly after (empty until then). Rows from before
    uploads (and the demo data) name an outside `url` instead and have no files."""

    listing = models.ForeignKey("marketplace_app.ServiceListing", on_delete=models.CASCADE, related_name="images")
    url = models.URLField(max_length=500, blank=True, default="")
    original = models.FileField(upload_to=listing_image_path, max_length=200, blank=True, default="")
    thumbnail = models.FileField(upload_to=listing_image_path, max_length=200, blank=True, default="")
    content_type = models.CharField(max_length=20, blank=True, default="")
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    byte_size = models.IntegerField(null=True, blank=True)
    caption = models.TextField(blank=True, default="")
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "service_listing_images"
        ordering = ["sort_order", "id"]
        indexes = [models.Index(fields=["listing", "sort_order"], name="service_listing_images_order")]
        constraints = [
            models.CheckConstraint(
                condition=Q(content_type__in=["", "image/jpeg", "image/png", "image/webp"]),
                name="service_listing_images_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Image {self.sort_order + 1} of listing #{self.listing_id}" + (
            f": {self.caption[:60]}" if self.caption else ""
        )


class ListingModeration(models.Model):
    """Staff's hold on a listing (one row per listing that was ever moderated).

    While `hidden`, the listing is off the marketplace (paused) and neither its provider nor the
    listing actions may publish it; `reason` is what staff told the provider. `was_active` remembers
    whether reinstating should put it back on sale. `hidden_count` numbers the hides, so each hide's
    email is sent once (its event key)."""

    listing = models.OneToOneField(
        "marketplace_app.ServiceListing", on_delete=models.CASCADE, primary_key=True, related_name="moderation"
    )
    hidden = models.BooleanField(default=False)
    reason = models.TextField(blank=True, default="")
    was_active = models.BooleanField(default=False)
    hidden_count = models.IntegerField(default=0)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.CharField(max_length=150, blank=True, default="")
    reinstated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "listing_moderations"
        indexes = [models.Index(fields=["hidden_at"], name="listing_moderations_hidden", condition=Q(hidden=True))]

    def __str__(self) -> str:
        return f"Listing #{self.listing_id}: {'hidden' if self.hidden else 'visible'}"
