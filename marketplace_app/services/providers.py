"""Provider writes: create, edit the profile, withdraw, soft delete and restore, repair the statistics."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from breederhq.currencies import currency as currency_facts
from breederhq.errors import Conflict, ValidationFailed, VersionConflict
from marketplace_app.models import MarketplaceTransaction, MarketplaceUser, Provider, ServiceListing
from marketplace_app.services.common import DB, _get_locked
from marketplace_app.services.listings import listing_transition


def provider_create(
    *,
    user: MarketplaceUser,
    kind: str,
    business_name: str,
    tenant_id: int | None = None,
    city: str = "",
    state: str = "",
    currency: str = "USD",
    payment_mode: str = Provider.PaymentMode.MANUAL,
    description: str = "",
    primary_category: str = "",
) -> Provider:
    if kind == Provider.Kind.BREEDER and tenant_id is None:
        raise ValidationFailed("A breeder provider needs its tenant.", field_errors={"tenant_id": ["Required."]})
    if kind == Provider.Kind.SERVICE_PROVIDER and tenant_id is not None:
        raise ValidationFailed(
            "A service provider has no tenant.", field_errors={"tenant_id": ["Must be empty for service providers."]}
        )
    currency_facts(currency)  # 400 unsupported_currency
    with transaction.atomic(using=DB):
        provider = Provider(
            user=user,
            kind=kind,
            tenant_id=tenant_id,
            business_name=business_name,
            city=city.strip(),
            state=state.strip().upper(),
            currency=currency,
            payment_mode=payment_mode,
            description=description,
            primary_category=primary_category,
        )
        provider.save(using=DB)
        MarketplaceUser.objects.using(DB).filter(pk=user.pk).update(kind=kind)
        user.kind = kind
    return provider


#: Sales still in progress: a provider with any cannot leave the marketplace.
OPEN_TRANSACTION_STATES = ("pending_invoice", "invoiced", "disputed")


def provider_withdraw(*, provider_id: int) -> Provider:
    """The provider leaves the marketplace on its own: its listings are archived and it is soft-deleted
    (through the cross-database registry, so what refers to it keeps resolving). Refused with 409
    `provider_has_open_transactions` while a sale is unfinished (not invoiced, unpaid or disputed)."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is not None:
            return provider
        open_ids = list(
            MarketplaceTransaction.objects.using(DB)
            .filter(provider_id=provider.pk, status__in=OPEN_TRANSACTION_STATES)
            .order_by("pk")
            .values_list("pk", flat=True)[:20]
        )
        if open_ids:
            raise Conflict(
                "Finish or cancel your open sales before leaving the marketplace.",
                code="provider_has_open_transactions",
                extra={"transaction_ids": open_ids},
            )
        _provider_withdraw(user_id=provider.user_id)
        provider.refresh_from_db(using=DB)
    return provider


def _save_provider(provider: Provider, fields: list[str]) -> None:
    """Every service write to a provider row moves its version (the profile's ETag)."""
    provider.version += 1
    provider.save(using=DB, update_fields=[*fields, "version", "updated_at"])


def provider_delete(*, provider_id: int) -> Provider:
    """Soft delete: the provider disappears from search; its history stays."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is None:
            provider.deleted_at = timezone.now()
            _save_provider(provider, ["deleted_at"])
    return provider


#: What a provider edits on its own public profile (kind, tenant and payment mode have their own paths).
PROVIDER_PROFILE_FIELDS = ("business_name", "description", "city", "state", "primary_category")


def provider_update_profile(*, provider_id: int, expected_version: int | None = None, **changes) -> Provider:
    """Edit the public profile. With `expected_version` (the API always sends it) a provider changed
    since the caller read it is a 409 `version_conflict`, compared under the row lock."""
    unknown = sorted(set(changes) - set(PROVIDER_PROFILE_FIELDS))
    if unknown:
        raise ValidationFailed("Not a profile field.", field_errors={name: ["not editable"] for name in unknown})
    if "business_name" in changes and not str(changes["business_name"]).strip():
        raise ValidationFailed("A business name is required.", field_errors={"business_name": ["Empty."]})
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id)
        if expected_version is not None and expected_version != provider.version:
            raise VersionConflict(
                entity=f"Provider #{provider_id}", expected=expected_version, current=provider.version
            )
        normalise = {"city": str.strip, "state": lambda value: value.strip().upper()}  # as provider_create stores them
        for name, value in changes.items():
            setattr(provider, name, normalise.get(name, lambda v: v)(value))
        _save_provider(provider, list(changes))
    return provider


def provider_restore(*, provider_id: int) -> Provider:
    """Undo a soft delete: the provider is listed again (its counters never stopped being kept)."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is not None:
            provider.deleted_at = None
            _save_provider(provider, ["deleted_at"])
    return provider


def _provider_withdraw(*, user_id: int) -> None:
    """The person's provider leaves the marketplace: every listing not archived yet is archived
    (`listing_transition`, which keeps the counters) and the provider is soft-deleted (`provider_delete`)."""
    provider_id = Provider.all_objects.using(DB).filter(user_id=user_id).values_list("pk", flat=True).first()
    if provider_id is None:
        return
    listings = (
        ServiceListing.objects.using(DB)
        .filter(provider_id=provider_id)
        .exclude(status=ServiceListing.Status.ARCHIVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for listing_id in listings:
        listing_transition(listing_id=listing_id, target=ServiceListing.Status.ARCHIVED)
    provider_delete(provider_id=provider_id)


def provider_stats_fix(*, provider_id: int) -> dict[str, tuple[int, int]]:
    """Set one provider's counters to the recomputation; returns {field: (stored, actual)} changed."""
    from marketplace_app.selectors import provider_stats_recompute

    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        actual = provider_stats_recompute(provider_id=provider_id)
        changed = {
            name: (getattr(provider, name), value) for name, value in actual.items() if getattr(provider, name) != value
        }
        if changed:
            Provider.all_objects.using(DB).filter(pk=provider_id).update(
                **actual, version=F("version") + 1, updated_at=timezone.now()
            )
    return changed
