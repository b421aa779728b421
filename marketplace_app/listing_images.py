"""A provider's images of its own listings: upload, reorder, delete, thumbnails; and how they are shown.

The rules:

* **What an image is** is decided by its bytes, never the client's Content-Type or file name: JPEG,
  PNG or WebP (anything else: 415 `unsupported_image_type`). At most LISTING_IMAGE_MAX_BYTES
  (413 `image_too_large`, `max_bytes`) and LISTING_IMAGE_MAX_PIXELS once decoded (413
  `image_too_large`, `max_pixels`): the dimensions are read from the header and checked *before*
  anything is decoded, so a small file that decodes to gigabytes (a decompression bomb) is refused
  unread; Pillow's own MAX_IMAGE_PIXELS guard is set to the same limit behind it. A file Pillow
  cannot decode is 400 `image_unreadable`.
* **Stored re-encoded**: the pixels only (turned upright by their EXIF orientation first), with no
  EXIF, GPS, ICC, XMP or text chunks: what a phone wrote into the file never reaches the public.
* **At most LISTING_IMAGES_PER_LISTING per listing** (409 `too_many_images`, `max_images`): counted
  under the listing's row lock, so two uploads racing for the last place cannot both win.
* Every change (upload, reorder, delete) is a change of the listing: its `version` moves (the
  ETag), so a reorder or delete made at a stale version is 409 `version_conflict`, and the
  search cache is invalidated by the listing's save.
* **Files and rows agree**: a stored file whose row does not commit is deleted
  (breederhq/files.py); a deleted image's files are deleted only after the row's deletion commits.
  Every file has a fresh name (listing_models.listing_image_path), so no other row names it.
* **Thumbnails** are made by a worker (`marketplace_app.tasks.make_listing_image_thumbnail`),
  queued after the upload commits; until then `thumbnail_url` is null.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connections, transaction
from django.urls import reverse
from PIL import Image, ImageOps, UnidentifiedImageError

from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import Conflict, DomainError, NotFound, PayloadTooLarge, ValidationFailed, VersionConflict
from breederhq.files import files_removed_on_failure
from breederhq.read_replica import marketplace_read_alias
from marketplace_app import listing_score
from marketplace_app.models import ServiceListing, ServiceListingImage

logger = logging.getLogger(__name__)

DB = MARKETPLACE_DB

#: (content type, Pillow format, file extension) by the file's first bytes.
_KINDS = {"image/jpeg": ("JPEG", "jpg"), "image/png": ("PNG", "png"), "image/webp": ("WEBP", "webp")}


class UnsupportedImageType(ValidationFailed):
    status = 415
    title = "Unsupported image type"


def sniff_image_type(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return _KINDS[self.content_type][1]


class ImageTooLarge(DomainError):
    status = 413
    code = "image_too_large"
    title = "Image too large"


def _too_many_pixels(width: int, height: int) -> ImageTooLarge:
    limit = settings.LISTING_IMAGE_MAX_PIXELS
    return ImageTooLarge(
        f"The image is {width}x{height} pixels; at most {limit} pixels are accepted.", extra={"max_pixels": limit}
    )


def _unreadable() -> ValidationFailed:
    return ValidationFailed(
        "The image could not be read.", field_errors={"image": ["not a readable image"]}, code="image_unreadable"
    )


def _encode(image: Image.Image, pillow_format: str) -> bytes:
    """The pixels alone in `pillow_format`: a fresh image carries no `info` (EXIF, ICC, XMP, text)."""
    if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif pillow_format in ("PNG", "WEBP") and image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    if pillow_format == "WEBP" and image.mode in ("P", "LA", "L"):
        image = image.convert("RGBA")
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P":
        bare.putpalette(image.getpalette())
        if "transparency" in image.info:  # the one piece of `info` that is pixels, not metadata
            bare.info["transparency"] = image.info["transparency"]
    out = io.BytesIO()
    options = {"quality": 88} if pillow_format in ("JPEG", "WEBP") else {}
    bare.save(out, format=pillow_format, **options)
    return out.getvalue()


def clean_image(upload) -> CleanImage:
    """Check an uploaded file (size, type by content, pixels from the header) and re-encode it
    without metadata. Raises the API's problems; reads nothing from the database."""
    limit = settings.LISTING_IMAGE_MAX_BYTES
    if upload.size > limit:
        raise PayloadTooLarge(
            f"The image is {upload.size} bytes; the limit is {limit} bytes.", max_bytes=limit, code="image_too_large"
        )
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff_image_type(head)
    if content_type is None:
        raise UnsupportedImageType(
            "An image must be a JPEG, PNG or WebP file.",
            field_errors={"image": ["not a JPEG, PNG or WebP file"]},
            code="unsupported_image_type",
        )
    pillow_format = _KINDS[content_type][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = settings.LISTING_IMAGE_MAX_PIXELS
        image = None
        try:
            # Only the decoder the bytes named: a file cannot pick another parser by its contents.
            image = Image.open(upload, formats=[pillow_format])
            width, height = image.size  # from the header; nothing is decoded yet
            if width * height > settings.LISTING_IMAGE_MAX_PIXELS:
                raise _too_many_pixels(width, height)
            image.seek(0)  # an animation's first frame
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Pillow's own guard (its header check, at open) caught it first.
            raise _too_many_pixels(*(image.size if image is not None else ("?", "?"))) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise _unreadable() from None
    return CleanImage(
        data=_encode(upright, pillow_format), content_type=content_type, width=upright.width, height=upright.height
    )


def make_thumbnail(data: bytes, content_type: str) -> bytes:
    pillow_format = _KINDS[content_type][0]
    image = Image.open(io.BytesIO(data), formats=[pillow_format])
    image.thumbnail((settings.LISTING_IMAGE_THUMBNAIL_PIXELS,) * 2)
    return _encode(image, pillow_format)


# --- Services ----------------------------------------------------------------------------------------


def _own_listing_locked(listing_id: int, provider_id: int, expected_version: int | None) -> ServiceListing:
    listing = ServiceListing.objects.using(DB).select_for_update().filter(pk=listing_id).first()
    if listing is None or listing.provider_id != provider_id:
        raise NotFound(f"Listing {listing_id} not found.")
    if expected_version is not None and expected_version != listing.version:
        raise VersionConflict(entity=f"Listing #{listing.pk}", expected=expected_version, current=listing.version)
    if listing.status == ServiceListing.Status.ARCHIVED:
        raise Conflict("An archived listing cannot be changed.", code="listing_archived")
    return listing


def _bump(listing: ServiceListing) -> None:
    listing.version += 1
    listing.save(using=DB, update_fields=["version", "updated_at"])  # the search cache's invalidation too
    listing_score.refresh(listing.pk)  # the image count is part of its search order


def listing_image_upload(
    *, listing_id: int, provider_id: int, upload, caption: str = "", expected_version: int | None = None
) -> ServiceListingImage:
    """Add an uploaded image at the end of the listing's images; its thumbnail follows from a worker."""
    from breederhq.jobs.publish_later import publish_after_commit
    from marketplace_app.tasks import make_listing_image_thumbnail

    clean = clean_image(upload)  # the CPU work, before any lock
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        listing = _own_listing_locked(listing_id, provider_id, expected_version)
        images = ServiceListingImage.objects.using(DB).filter(listing_id=listing.pk)
        limit = settings.LISTING_IMAGES_PER_LISTING
        if images.count() >= limit:
            raise Conflict(
                f"A listing may have at most {limit} images: delete one first.",
                extra={"max_images": limit},
                code="too_many_images",
            )
        last = images.order_by("-sort_order").values_list("sort_order", flat=True).first()
        image = ServiceListingImage(
            listing=listing,
            caption=caption,
            sort_order=0 if last is None else last + 1,
            content_type=clean.content_type,
            width=clean.width,
            height=clean.height,
            byte_size=len(clean.data),
        )
        stored.save(image.original, f"original.{clean.extension}", ContentFile(clean.data))
        image.save(using=DB)
        _bump(listing)
        publish_after_commit(make_listing_image_thumbnail, image.pk, using=DB)
    image.listing = listing
    return image


def listing_images_reorder(
    *, listing_id: int, provider_id: int, image_ids: list[int], expected_version: int
) -> ServiceListing:
    """Put the listing's images in the order of `image_ids`, which names each of them once."""
    with transaction.atomic(using=DB):
        listing = _own_listing_locked(listing_id, provider_id, expected_version)
        images = {
            image.pk: image
            for image in ServiceListingImage.objects.using(DB).select_for_update().filter(listing_id=listing.pk)
        }
        if len(set(image_ids)) != len(image_ids) or set(image_ids) != set(images):
            raise ValidationFailed(
                "Name every image of the listing once, in the order you want.",
                field_errors={"image_ids": [f"the listing's images are {sorted(images)}"]},
                code="image_ids_mismatch",
            )
        for position, image_id in enumerate(image_ids):
            images[image_id].sort_order = position
        ServiceListingImage.objects.using(DB).bulk_update(images.values(), ["sort_order"])
        _bump(listing)
    return listing


def _delete_files(names: list[str]) -> None:
    storage = ServiceListingImage._meta.get_field("original").storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # the row is gone either way; the leftover file is logged
            logger.exception("could not delete listing image file %s", name)


def listing_image_delete(
    *, listing_id: int, provider_id: int, image_id: int, expected_version: int | None = None
) -> ServiceListing:
    """Remove an image; its files are deleted once the row's deletion has committed."""
    with transaction.atomic(using=DB):
        listing = _own_listing_locked(listing_id, provider_id, expected_version)
        # Locked, so a thumbnail being recorded meanwhile is waited for and its file named here.
        image = (
            ServiceListingImage.objects.using(DB).select_for_update().filter(pk=image_id, listing_id=listing.pk).first()
        )
        if image is None:
            raise NotFound(f"Image {image_id} of listing {listing_id} not found.")
        names = [name for name in (image.original.name, image.thumbnail.name) if name]
        image.delete(using=DB)
        _bump(listing)
        transaction.on_commit(lambda: _delete_files(names), using=DB, robust=True)
    return listing


def listing_image_make_thumbnail(*, image_id: int) -> str:
    """The worker's part: store the thumbnail and record it, unless the image is gone or has one."""
    from marketplace_app.search_cache import listings_changed

    image = ServiceListingImage.objects.using(DB).filter(pk=image_id).first()
    if image is None or not image.original or image.thumbnail:
        return "nothing to do"
    with image.original.open("rb") as handle:
        data = handle.read()
    thumbnail = make_thumbnail(data, image.content_type)
    extension = _KINDS[image.content_type][1]
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        locked = ServiceListingImage.objects.using(DB).select_for_update().filter(pk=image_id).first()
        if locked is None or locked.thumbnail:
            return "image deleted meanwhile" if locked is None else "already made"
        stored.save(locked.thumbnail, f"thumbnail.{extension}", ContentFile(thumbnail))
        locked.save(using=DB, update_fields=["thumbnail"])
        transaction.on_commit(listings_changed, using=DB)
    return "made"


def images_missing_thumbnails(*, older_than_seconds: int = 120, limit: int = 500) -> list[int]:
    """Uploaded images still without a thumbnail a while after the upload (their message was lost)."""
    from datetime import timedelta

    from django.utils import timezone

    return list(
        ServiceListingImage.objects.using(DB)
        .filter(thumbnail="", created_at__lt=timezone.now() - timedelta(seconds=older_than_seconds))
        .exclude(original="")
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


# --- How images are shown ------------------------------------------------------------------------------

#: The columns an image is shown from (one query for a whole page of listings).
IMAGE_VALUES = (
    "id",
    "listing_id",
    "url",
    "original",
    "thumbnail",
    "caption",
    "sort_order",
    "width",
    "height",
    "content_type",
)


def image_file_url(image_id: int, variant: str, *, request=None, own_listing_id: int | None = None) -> str:
    if own_listing_id is not None:
        path = reverse(
            "api-v1:own-listing-image-file",
            kwargs={"listing_id": own_listing_id, "image_id": image_id, "variant": variant},
        )
    else:
        path = reverse("api-v1:listing-image-file", kwargs={"image_id": image_id, "variant": variant})
    return request.build_absolute_uri(path) if request is not None else path


def image_row_out(row: dict, *, request=None, own: bool = False) -> dict:
    """One image as the API shows it (`ImageOut`): uploaded files through the image endpoints, an
    outside image by its URL."""
    own_listing_id = row["listing_id"] if own else None
    if row["original"]:
        url = image_file_url(row["id"], "original", request=request, own_listing_id=own_listing_id)
    else:
        url = row["url"]
    thumbnail = (
        image_file_url(row["id"], "thumbnail", request=request, own_listing_id=own_listing_id)
        if row["thumbnail"]
        else None
    )
    return {
        "id": row["id"],
        "url": url,
        "thumbnail_url": thumbnail,
        "caption": row["caption"],
        "sort_order": row["sort_order"],
        "width": row["width"],
        "height": row["height"],
        "content_type": row["content_type"] or None,
    }


#: The page's images, written out as SQL rather than built with the ORM: the listing search reads
#: them on every uncached page, and compiling the ORM query (a lookup prepared per listing id) cost
#: more CPU than the read (measured with bench/). One array parameter, whatever the page's size.
_IMAGES_SQL = (
    f"SELECT {', '.join(IMAGE_VALUES)} FROM {ServiceListingImage._meta.db_table}"
    " WHERE listing_id = ANY(%s::bigint[]) ORDER BY listing_id, sort_order, id"
)


def images_by_listing(listing_ids, *, request=None, own: bool = False) -> dict[int, list[dict]]:
    """The images of these listings, in order, in one query."""
    shown: dict[int, list[dict]] = {listing_id: [] for listing_id in listing_ids}
    if not shown:
        return shown
    with connections[marketplace_read_alias()].cursor() as cursor:
        cursor.execute(_IMAGES_SQL, [list(shown)])
        rows = cursor.fetchall()
    for values in rows:
        row = dict(zip(IMAGE_VALUES, values, strict=True))
        shown[row["listing_id"]].append(image_row_out(row, request=request, own=own))
    return shown


def with_images(rows: list[dict], *, request=None) -> list[dict]:
    """Listing rows (the search's) with their images added, one query for the page."""
    images = images_by_listing([row["id"] for row in rows], request=request)
    return [{**row, "images": images[row["id"]]} for row in rows]


def public_image_file(*, image_id: int, variant: str):
    """An image's stored file, when its listing is public (active, its provider live, not hidden)."""
    from marketplace_app.provider_suspension import not_suspended

    image = (
        ServiceListingImage.objects.using(DB)
        .filter(
            not_suspended("listing__provider_id"),
            pk=image_id,
            listing__status=ServiceListing.Status.ACTIVE,
            listing__provider__deleted_at__isnull=True,
        )
        .first()
    )
    return _file_of(image, variant)


def own_image_file(*, provider_id: int, listing_id: int, image_id: int, variant: str):
    image = (
        ServiceListingImage.objects.using(DB)
        .filter(pk=image_id, listing_id=listing_id, listing__provider_id=provider_id)
        .first()
    )
    return _file_of(image, variant)


def _file_of(image, variant: str):
    if image is None or variant not in ("original", "thumbnail"):
        raise NotFound("No such image.")
    field = image.original if variant == "original" else image.thumbnail
    if not field:
        raise NotFound("This image has no such file (yet).", code="image_file_missing")
    return field, image.content_type
