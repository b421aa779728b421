"""Listing images through the API: a provider uploads, orders and deletes the images of its own
listings; anyone reads the files of a public listing's images. Thin views over
marketplace_app/listing_images.py (the rules are described there)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from breederhq.api.base import MarketplaceAPIView
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.api.uploads import RECEIPT_UPLOAD_PARSERS, ReceiptDownloadNegotiation
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import PermissionDenied
from marketplace_app import listing_images
from marketplace_app.api import image_serializers as s
from marketplace_app.models import ServiceListing, ServiceListingImage

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
IMAGE_FILE = {
    (200, kind): OpenApiResponse(response=OpenApiTypes.BINARY, description="The image file") for kind in IMAGE_TYPES
}
VARIANT = OpenApiParameter("variant", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["original", "thumbnail"])
UPLOAD_ERRORS = problems(
    e409="`too_many_images` (`max_images`), `version_conflict` (`current_version`), `listing_archived`",
    e413="`image_too_large`: over `max_bytes`, or decoding to more than `max_pixels`",
    e415="`unsupported_image_type`: not a JPEG, PNG or WebP file (by content)",
)


def _provider_id(request) -> int:
    provider = getattr(request.marketplace_user, "provider", None)
    if provider is None or provider.deleted_at is not None:
        raise PermissionDenied("You are not a provider.", code="not_a_provider")
    return provider.pk


def _optional_version(request, body_version: int | None) -> int | None:
    """An upload or a deletion may name the listing version it was based on; it need not."""
    if body_version is None and request.headers.get("If-Match") is None:
        return None
    return expected_version_from_request(request, body_version)


def _own_images(request, listing: ServiceListing) -> Response:
    images = listing_images.images_by_listing([listing.pk], request=request, own=True)[listing.pk]
    return Response(
        {"listing_version": listing.version, "images": images}, headers={"ETag": version_etag(listing.version)}
    )


def _image_file(field, content_type: str) -> FileResponse:
    response = FileResponse(field.storage.open(field.name, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class OwnListingImagesView(MarketplaceAPIView):
    parser_classes = RECEIPT_UPLOAD_PARSERS
    serializer_class = s.OwnImagesOut
    queryset = ServiceListingImage.objects.none()  # for the schema

    def _listing(self, request, listing_id: int) -> ServiceListing:
        from breederhq.errors import NotFound

        listing = (
            ServiceListing.objects.using(MARKETPLACE_DB)
            .filter(pk=listing_id, provider_id=_provider_id(request))
            .first()
        )
        if listing is None:
            raise NotFound(f"Listing {listing_id} not found.")
        return listing

    @extend_schema(
        operation_id="own_listing_images_list",
        tags=["marketplace"],
        responses={200: s.OwnImagesOut, **READ_ERRORS},
        summary="Your listing's images, in order (any status)",
    )
    def get(self, request, listing_id: int):
        return _own_images(request, self._listing(request, listing_id))

    @extend_schema(
        operation_id="own_listing_images_upload",
        tags=["marketplace"],
        request={"multipart/form-data": s.ImageUploadIn},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={201: s.ImageOut, **WRITE_ERRORS, **UPLOAD_ERRORS},
        summary="Add an image to your listing (at the end); its thumbnail follows shortly",
        description="The type is read from the file's bytes (JPEG, PNG, WebP); the image is stored "
        "re-encoded without EXIF or other metadata. The listing's version moves (ETag).",
    )
    def post(self, request, listing_id: int):
        from breederhq.api.params import validated

        data = validated(s.ImageUploadIn, request.data)
        version = _optional_version(request, data.get("version"))
        image = listing_images.listing_image_upload(
            listing_id=listing_id,
            provider_id=_provider_id(request),
            upload=data["image"],
            caption=data["caption"],
            expected_version=version,
        )
        row = {name: getattr(image, name) for name in listing_images.IMAGE_VALUES}
        row["original"], row["thumbnail"] = image.original.name, image.thumbnail.name
        return Response(
            listing_images.image_row_out(row, request=request, own=True),
            status=status.HTTP_201_CREATED,
            headers={"ETag": version_etag(image.listing.version)},
        )


class OwnListingImageOrderView(MarketplaceAPIView):
    serializer_class = s.OwnImagesOut

    @extend_schema(
        operation_id="own_listing_images_reorder",
        tags=["marketplace"],
        request=s.ImageOrderIn,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={
            200: s.OwnImagesOut,
            **WRITE_ERRORS,
            **problems(
                e400="`image_ids_mismatch`: name every image of the listing once",
                e409="`version_conflict` (`current_version`), `listing_archived`",
            ),
        },
        summary="Put your listing's images in this order, at the listing version you last read",
    )
    def put(self, request, listing_id: int):
        from breederhq.api.params import validated

        data = validated(s.ImageOrderIn, request.data)
        version = expected_version_from_request(request, data.get("version"))
        listing = listing_images.listing_images_reorder(
            listing_id=listing_id,
            provider_id=_provider_id(request),
            image_ids=data["image_ids"],
            expected_version=version,
        )
        return _own_images(request, listing)


class OwnListingImageDetailView(MarketplaceAPIView):
    serializer_class = s.OwnImagesOut

    @extend_schema(
        operation_id="own_listing_images_delete",
        tags=["marketplace"],
        request=None,
        parameters=[IF_MATCH],
        responses={200: s.OwnImagesOut, **WRITE_ERRORS},
        summary="Remove an image from your listing (its files are deleted)",
    )
    def delete(self, request, listing_id: int, image_id: int):
        version = _optional_version(request, None)
        listing = listing_images.listing_image_delete(
            listing_id=listing_id, provider_id=_provider_id(request), image_id=image_id, expected_version=version
        )
        return _own_images(request, listing)


class OwnListingImageFileView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    serializer_class = None

    @extend_schema(
        operation_id="own_listing_images_file",
        tags=["marketplace"],
        parameters=[VARIANT],
        responses={**IMAGE_FILE, **READ_ERRORS},
        summary="A file of your listing's image (any listing status)",
    )
    def get(self, request, listing_id: int, image_id: int, variant: str):
        field, content_type = listing_images.own_image_file(
            provider_id=_provider_id(request), listing_id=listing_id, image_id=image_id, variant=variant
        )
        response = _image_file(field, content_type)
        response["Cache-Control"] = "private, no-store"
        return response


class ListingImageFileView(ReceiptDownloadNegotiation, MarketplaceAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicReadIPThrottle]
    serializer_class = None

    @extend_schema(
        operation_id="listing_images_file",
        tags=["marketplace"],
        parameters=[VARIANT],
        responses={**IMAGE_FILE, **problems(e404="No such image of a public listing", e429="Throttled")},
        summary="A public listing's image file (the original or its thumbnail)",
    )
    def get(self, request, image_id: int, variant: str):
        field, content_type = listing_images.public_image_file(image_id=image_id, variant=variant)
        response = _image_file(field, content_type)
        response["Cache-Control"] = "public, max-age=300"
        return response
