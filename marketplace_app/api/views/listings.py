"""Listings: the public listing page and the signed-in provider's own listings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from breederhq.api.pagination import PageNumber
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, problems
from breederhq.api.versioning import IF_MATCH, expected_version_from_request, version_etag
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound
from marketplace_app import listing_images, selectors, services
from marketplace_app.api import serializers as s
from marketplace_app.api.views.common import PublicAPIView, _ProviderView
from marketplace_app.models import ServiceListing
from tenant_app.accounts import require_verified_email


class ListingDetailView(PublicAPIView):
    serializer_class = s.ListingDetailOut

    @extend_schema(
        operation_id="listings_retrieve",
        tags=["marketplace"],
        responses={200: s.ListingDetailOut, **problems(e404="No such active listing")},
    )
    def get(self, request, slug: str):
        listing = selectors.listing_get_public(slug=slug)
        listing.shown_images = listing_images.images_by_listing([listing.pk], request=request)[listing.pk]
        return Response(s.ListingDetailOut(listing).data)


def _own_listing_response(listing: ServiceListing, status_code: int = 200) -> Response:
    return Response(s.OwnListingOut(listing).data, status=status_code, headers={"ETag": version_etag(listing.version)})


class OwnListingListView(_ProviderView):
    pagination_class = PageNumber
    serializer_class = s.OwnListingOut
    queryset = ServiceListing.objects.none()  # for the schema

    @extend_schema(
        operation_id="own_listings_list",
        tags=["marketplace"],
        responses={200: s.OwnListingOut(many=True), **READ_ERRORS},
        summary="Your listings in every status (draft, active, paused, archived), newest first",
    )
    def get(self, request):
        listings = (
            ServiceListing.objects.using(MARKETPLACE_DB)
            .filter(provider_id=self.provider(request).pk)
            .select_related("moderation")
            .order_by("-created_at", "-id")
        )
        page = self.paginate_queryset(listings)
        return self.get_paginated_response(s.OwnListingOut(page, many=True).data)

    @extend_schema(
        operation_id="own_listings_create",
        tags=["marketplace"],
        request=s.ListingCreateIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.OwnListingOut,
            **WRITE_ERRORS,
            **problems(e403="`not_a_provider`, `email_unverified`", e410="`provider_gone`"),
        },
        summary="Create a listing (a draft: publish it to put it on sale)",
        description="The price is in minor units of your provider currency.",
    )
    def post(self, request):
        provider = self.provider(request)
        require_verified_email(request.user, to="sell")
        data = validated(s.ListingCreateIn, request.data)
        listing = services.listing_create(provider_id=provider.pk, **data)
        return _own_listing_response(listing, status.HTTP_201_CREATED)


class OwnListingDetailView(_ProviderView):
    serializer_class = s.OwnListingOut

    def _get(self, request, listing_id: int) -> ServiceListing:
        listing = (
            ServiceListing.objects.using(MARKETPLACE_DB)
            .select_related("moderation")
            .filter(pk=listing_id, provider_id=self.provider(request).pk)
            .first()
        )
        if listing is None:
            raise NotFound(f"Listing {listing_id} not found.")
        return listing

    @extend_schema(
        operation_id="own_listings_retrieve", tags=["marketplace"], responses={200: s.OwnListingOut, **READ_ERRORS}
    )
    def get(self, request, listing_id: int):
        return _own_listing_response(self._get(request, listing_id))

    @extend_schema(
        operation_id="own_listings_update",
        tags=["marketplace"],
        request=s.ListingPatch,
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
        responses={
            200: s.OwnListingOut,
            **WRITE_ERRORS,
            **problems(
                e403="`not_a_provider`, `email_unverified` (publishing)",
                e409="`version_conflict` (`current_version`), `illegal_transition`, `listing_archived`",
            ),
        },
        summary="Edit a listing, or publish / unpublish / archive it, at the version you last read",
        description="Either `action` or fields, with `version` (or If-Match). Only published "
        "(active) listings are public and searchable; the search sees a change at once.",
    )
    def patch(self, request, listing_id: int):
        provider = self.provider(request)
        data = validated(s.ListingPatch, request.data)
        version = expected_version_from_request(request, data.pop("version", None))
        action = data.pop("action", None)
        if action is not None:
            if action == "publish":
                require_verified_email(request.user, to="sell")
            target = {
                "publish": ServiceListing.Status.ACTIVE,
                "unpublish": ServiceListing.Status.PAUSED,
                "archive": ServiceListing.Status.ARCHIVED,
            }[action]
            listing = services.listing_transition(
                listing_id=listing_id, target=target, expected_version=version, provider_id=provider.pk
            )
        else:
            listing = services.listing_update(
                listing_id=listing_id, provider_id=provider.pk, expected_version=version, **data
            )
        return _own_listing_response(listing)
