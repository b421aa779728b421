"""Service listing writes: create, edit, publish/pause/archive, images."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from breederhq.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from breederhq.money import check_amount
from marketplace_app import listing_score
from marketplace_app.models import LISTING_STATES, ServiceListing, ServiceListingImage
from marketplace_app.provider_suspension import require_not_suspended
from marketplace_app.services.common import DB, _bump_provider_stats, _get_locked, _listing_counts, _live_provider


def listing_create(
    *,
    provider_id: int,
    title: str,
    category: str,
    price_cents: int,
    description: str = "",
    state: str = "",
    city: str = "",
    category_metadata: dict | None = None,
    slug: str | None = None,
) -> ServiceListing:
    if category not in ServiceListing.Category.values:
        raise ValidationFailed("Unknown category.", field_errors={"category": [f"'{category}' is not a category."]})
    check_amount("price_cents", price_cents)
    slug = slug or f"{slugify(title)[:100] or 'listing'}-{secrets.token_hex(3)}"
    with transaction.atomic(using=DB):
        provider = _live_provider(provider_id)
        check_amount("price_cents", price_cents, currency=provider.currency)
        listing = ServiceListing(
            provider=provider,
            slug=slug,
            title=title,
            description=description,
            category=category,
            state=state.strip().upper(),
            city=city.strip(),
            price_cents=price_cents,
            currency=provider.currency,
            category_metadata=category_metadata or {},
        )
        try:
            with transaction.atomic(using=DB):
                listing.save(using=DB)
        except IntegrityError:
            raise ValidationFailed("That slug is taken.", field_errors={"slug": ["Already in use."]}) from None
    return listing


def listing_transition(
    *, listing_id: int, target: str, expected_version: int | None = None, provider_id: int | None = None
) -> ServiceListing:
    """publish (-> active), pause, archive. Moves the provider's active-listing count. With
    `provider_id` the listing must be that provider's (404 otherwise); with `expected_version` a listing
    changed since the caller read it is a 409 `version_conflict`, compared under the row lock."""
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if provider_id is not None and listing.provider_id != provider_id:
            raise NotFound(f"ServiceListing #{listing_id} does not exist")
        _check_listing_version(listing, expected_version)
        LISTING_STATES.check(listing.status, target)
        if target == ServiceListing.Status.ACTIVE:
            from marketplace_app.moderation import require_not_hidden

            require_not_hidden(listing)  # staff's hold (marketplace_app/moderation.py)
            require_not_suspended(listing.provider_id)  # staff's suspension (marketplace_app/provider_suspension.py)
        before = _listing_counts(listing.status)
        listing.status = target
        listing.version += 1
        fields = ["status", "version", "updated_at"]
        if target == ServiceListing.Status.ACTIVE and listing.published_at is None:
            listing.published_at = timezone.now()
            fields.append("published_at")
        listing.save(using=DB, update_fields=fields)
        listing_score.refresh(listing.pk)
        _bump_provider_stats(listing.provider_id, listings=_listing_counts(target) - before)
    return listing


def _check_listing_version(listing: ServiceListing, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != listing.version:
        raise VersionConflict(entity=f"Listing #{listing.pk}", expected=expected_version, current=listing.version)


#: What a provider edits on its own listing (status has its own path: listing_transition).
LISTING_FIELDS = ("title", "description", "category", "price_cents", "city", "state", "category_metadata")


def listing_update(*, listing_id: int, provider_id: int, expected_version: int, **changes) -> ServiceListing:
    """Edit a listing of the provider at the version read. An archived listing is final (409
    `listing_archived`). The search sees the change at once (the search cache's invalidation)."""
    unknown = sorted(set(changes) - set(LISTING_FIELDS))
    if unknown:
        raise ValidationFailed("Not a listing field.", field_errors={name: ["not editable"] for name in unknown})
    if "category" in changes and changes["category"] not in ServiceListing.Category.values:
        raise ValidationFailed(
            "Unknown category.", field_errors={"category": [f"'{changes['category']}' is not a category."]}
        )
    if "price_cents" in changes:
        check_amount("price_cents", changes["price_cents"])
    if "title" in changes and not str(changes["title"]).strip():
        raise ValidationFailed("A title is required.", field_errors={"title": ["Empty."]})
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if listing.provider_id != provider_id:
            raise NotFound(f"ServiceListing #{listing_id} does not exist")
        _check_listing_version(listing, expected_version)
        if listing.status == ServiceListing.Status.ARCHIVED:
            raise Conflict("An archived listing cannot be edited.", code="listing_archived")
        if "price_cents" in changes:
            check_amount("price_cents", changes["price_cents"], currency=listing.currency)
        normalise = {"city": str.strip, "state": lambda value: value.strip().upper()}  # as listing_create stores them
        for name, value in changes.items():
            setattr(listing, name, normalise.get(name, lambda v: v)(value))
        listing.version += 1
        listing.save(using=DB, update_fields=[*changes, "version", "updated_at"])
        listing_score.refresh(listing.pk)
    return listing


def listing_image_add(
    *, listing_id: int, url: str, caption: str = "", sort_order: int | None = None
) -> ServiceListingImage:
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if sort_order is None:
            last = listing.images.using(DB).order_by("-sort_order").values_list("sort_order", flat=True).first()
            sort_order = 0 if last is None else last + 1
        image = ServiceListingImage(listing=listing, url=url, caption=caption, sort_order=sort_order)
        image.save(using=DB)
        listing_score.refresh(listing.pk)
    return image
