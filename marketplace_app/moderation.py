"""Staff moderation of listings: hide one from the marketplace with a reason, and reinstate it.

Hiding takes the listing off the marketplace through the listing state machine (active -> paused,
so the provider counters and the search cache follow as for any status change) and puts a hold on
it (`ListingModeration.hidden`): while it is held, nothing publishes it (`require_not_hidden`, called
by `services.listing_transition`), the provider's API included (409 `listing_hidden`). Reinstating
lifts the hold and puts back on sale a listing that was on sale when it was hidden.

The provider is emailed the reason after the change commits, once per hide and per reinstatement
(the email's event key). The admin action that calls these writes the staff action audit row
(breederhq/backoffice/actions.py); the provider reads the state through its own listing
(`moderation` in the API).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB
from breederhq.email import email_enqueue
from breederhq.errors import Conflict, ValidationFailed
from marketplace_app.models import ListingModeration, ServiceListing

DB = MARKETPLACE_DB


def require_not_hidden(listing: ServiceListing) -> None:
    """Refuse to publish a listing staff have hidden. Call under the listing's row lock."""
    if ListingModeration.objects.using(DB).filter(listing_id=listing.pk, hidden=True).exists():
        raise Conflict(
            "Staff have hidden this listing; it cannot be published until they reinstate it.", code="listing_hidden"
        )


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Moderation needs a reason.", field_errors={"reason": ["required"]})
    return reason


def _email(listing: ServiceListing, moderation: ListingModeration, *, event: str) -> None:
    provider = listing.provider
    email_enqueue(
        using=DB,
        event_key=f"listing_{event}:{listing.pk}:{moderation.hidden_count}",
        template=f"listing_{event}",
        to=[provider.user.email],
        context={"name": provider.business_name, "title": listing.title, "reason": moderation.reason},
    )


def listing_hide(*, listing_id: int, reason: str, actor_label: str) -> ListingModeration:
    """Take a listing off the marketplace until staff reinstate it. Hiding a hidden listing is
    refused (409 `already_hidden`)."""
    from marketplace_app import services

    reason = _check_reason(reason)
    with transaction.atomic(using=DB):
        listing = (
            ServiceListing.objects.using(DB)
            .select_for_update(of=("self",))
            .select_related("provider__user")
            .get(pk=listing_id)
        )
        moderation, _ = ListingModeration.objects.using(DB).select_for_update().get_or_create(listing=listing)
        if moderation.hidden:
            raise Conflict("This listing is hidden already.", code="already_hidden")
        was_active = listing.status == ServiceListing.Status.ACTIVE
        if was_active:
            services.listing_transition(listing_id=listing.pk, target=ServiceListing.Status.PAUSED)
        moderation.hidden, moderation.reason, moderation.was_active = True, reason, was_active
        moderation.hidden_count += 1
        moderation.hidden_at, moderation.hidden_by, moderation.reinstated_at = timezone.now(), actor_label, None
        moderation.save(using=DB)
        _email(listing, moderation, event="hidden")
    return moderation


def listing_reinstate(*, listing_id: int, reason: str, actor_label: str) -> ListingModeration:
    """Lift staff's hold; a listing that was on sale when hidden is on sale again."""
    from marketplace_app import services

    reason = _check_reason(reason)
    with transaction.atomic(using=DB):
        listing = (
            ServiceListing.objects.using(DB)
            .select_for_update(of=("self",))
            .select_related("provider__user")
            .get(pk=listing_id)
        )
        moderation = ListingModeration.objects.using(DB).select_for_update().filter(listing=listing).first()
        if moderation is None or not moderation.hidden:
            raise Conflict("This listing is not hidden.", code="not_hidden")
        moderation.hidden, moderation.reason, moderation.reinstated_at = False, reason, timezone.now()
        moderation.save(using=DB)
        if moderation.was_active and listing.status == ServiceListing.Status.PAUSED:
            services.listing_transition(listing_id=listing.pk, target=ServiceListing.Status.ACTIVE)
        _email(listing, moderation, event="reinstated")
    return moderation


def moderation_out(listing: ServiceListing) -> dict:
    """What the provider sees of staff's moderation of its listing (`moderation` select_related)."""
    try:
        moderation = listing.moderation
    except ListingModeration.DoesNotExist:
        moderation = None
    if moderation is None:
        return {"hidden": False, "reason": "", "hidden_at": None, "reinstated_at": None}
    return {
        "hidden": moderation.hidden,
        "reason": moderation.reason,
        "hidden_at": moderation.hidden_at,
        "reinstated_at": moderation.reinstated_at,
    }
