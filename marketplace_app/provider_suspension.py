"""Staff suspension of a provider: take it and all its listings off the marketplace with a reason,
and reinstate it.

While a provider is suspended (`ProviderSuspension.suspended`):

* the public provider search and profile leave it out (`provider_list_public`), and the public
  listing search and detail leave out its listings (the anti-join `PROVIDER_NOT_SUSPENDED_SQL` in
  marketplace_app/listing_search.py, `not_suspended` in marketplace_app/selectors.py);
* it cannot publish a listing, take a new purchase or a new message thread: 409
  `provider_suspended` (`require_not_suspended`, called by the services that do those);
* its own profile (`GET providers/me/`) shows the state and the reason (`suspension_out`).

Its listings keep their status: reinstating puts the provider's active listings straight back in
search. The cached listing searches that could show its listings are invalidated after the change
commits (saving the provider row, which bumps its version, does so: marketplace_app/search_cache.py).
The owner is emailed the reason once per suspension and per reinstatement (the email's event key),
after commit (the email queue). The admin actions that call these write the staff action audit row
(breederhq/backoffice/actions.py), as for listing moderation (marketplace_app/moderation.py).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB
from breederhq.email import email_enqueue
from breederhq.errors import Conflict, ValidationFailed
from marketplace_app.models import Provider, ProviderSuspension

DB = MARKETPLACE_DB


#: The public reads' filter, in SQL over a listing `l` (an anti-join on the few suspended providers'
#: partial index entries).
PROVIDER_NOT_SUSPENDED_SQL = (
    "NOT EXISTS (SELECT 1 FROM provider_suspensions s WHERE s.provider_id = l.provider_id AND s.suspended)"
)


def not_suspended(provider_field: str = "pk"):
    """The same filter for a queryset: `provider_field` names the provider's id (e.g. "provider_id")."""
    return ~Exists(ProviderSuspension.objects.using(DB).filter(provider_id=OuterRef(provider_field), suspended=True))


def is_suspended(provider_id: int) -> bool:
    return ProviderSuspension.objects.using(DB).filter(provider_id=provider_id, suspended=True).exists()


def require_not_suspended(provider_id: int) -> None:
    """Refuse what a suspended provider may not do (publish, sell, open threads)."""
    if is_suspended(provider_id):
        raise Conflict(
            "Staff have suspended this provider: it cannot publish listings or take new purchases "
            "or messages until they reinstate it.",
            code="provider_suspended",
        )


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A suspension needs a reason.", field_errors={"reason": ["required"]})
    return reason


def _lock(provider_id: int) -> Provider:
    # The provider row is locked like a sale locks it (transaction_create), so a purchase that
    # began before the suspension commits first and none begins after it.
    return (
        Provider.all_objects.using(DB)
        .select_for_update(no_key=True, of=("self",))
        .select_related("user")
        .get(pk=provider_id)
    )


def _touch(provider: Provider) -> None:
    # A write to the profile (its ETag changes), and saving the row invalidates the cached listing
    # searches that could show its listings (marketplace_app/search_cache.py), after commit.
    provider.version = F("version") + 1
    provider.save(using=DB, update_fields=["version", "updated_at"])


def _email(provider: Provider, suspension: ProviderSuspension, *, event: str) -> None:
    email_enqueue(
        using=DB,
        event_key=f"provider_{event}:{provider.pk}:{suspension.suspended_count}",
        template=f"provider_{event}",
        to=[provider.user.email],
        context={"name": provider.business_name, "reason": suspension.reason},
    )


def provider_suspend(*, provider_id: int, reason: str, actor_label: str) -> ProviderSuspension:
    """Suspend a provider; suspending a suspended one is refused (409 `already_suspended`)."""
    reason = _check_reason(reason)
    with transaction.atomic(using=DB):
        provider = _lock(provider_id)
        suspension, _ = ProviderSuspension.objects.using(DB).select_for_update().get_or_create(provider=provider)
        if suspension.suspended:
            raise Conflict("This provider is suspended already.", code="already_suspended")
        suspension.suspended, suspension.reason = True, reason
        suspension.suspended_count += 1
        suspension.suspended_at, suspension.suspended_by, suspension.reinstated_at = timezone.now(), actor_label, None
        suspension.save(using=DB)
        _touch(provider)
        _email(provider, suspension, event="suspended")
    return suspension


def provider_reinstate(*, provider_id: int, reason: str, actor_label: str) -> ProviderSuspension:
    """Lift a suspension (409 `not_suspended` if there is none)."""
    reason = _check_reason(reason)
    with transaction.atomic(using=DB):
        provider = _lock(provider_id)
        suspension = ProviderSuspension.objects.using(DB).select_for_update().filter(provider=provider).first()
        if suspension is None or not suspension.suspended:
            raise Conflict("This provider is not suspended.", code="not_suspended")
        suspension.suspended, suspension.reason, suspension.reinstated_at = False, reason, timezone.now()
        suspension.save(using=DB)
        _touch(provider)
        _email(provider, suspension, event="reinstated")
    return suspension


def suspension_out(provider: Provider) -> dict:
    """What the owner sees of staff's suspension of its provider profile."""
    suspension = ProviderSuspension.objects.using(DB).filter(provider_id=provider.pk).first()
    if suspension is None:
        return {"suspended": False, "reason": "", "suspended_at": None, "reinstated_at": None}
    return {
        "suspended": suspension.suspended,
        "reason": suspension.reason,
        "suspended_at": suspension.suspended_at,
        "reinstated_at": suspension.reinstated_at,
    }
