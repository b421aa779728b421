"""Helpers shared by the marketplace write services: the database alias, row locks, the provider
statistics' moves, blocks and the provider's liveness.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import Gone, NotFound, PermissionDenied
from marketplace_app.models import (
    MarketplaceContact,
    MarketplaceTransaction,
    MarketplaceUser,
    Provider,
    ServiceListing,
    UserBlock,
)

DB = MARKETPLACE_DB


def _get_locked(model, pk, *, manager="objects"):
    try:
        return getattr(model, manager).using(DB).select_for_update().get(pk=pk)
    except model.DoesNotExist:
        raise NotFound(f"{model.__name__} #{pk} does not exist") from None


_BIGINT_MAX = 2**63 - 1


def _saturating_add(field: str, delta: int):
    """`field + delta` that stops at the BIGINT bounds instead of failing the statement (a running
    statistic: a 500 on the sale that would pass 9.2 quintillion cents helps nobody). The CASE tests
    the bound first, so the addition that would overflow is never evaluated."""
    if delta > 0:
        near = When(**{f"{field}__gt": _BIGINT_MAX - delta}, then=Value(_BIGINT_MAX))
    else:
        near = When(**{f"{field}__lt": -_BIGINT_MAX - delta}, then=Value(-_BIGINT_MAX))
    return Case(near, default=F(field) + delta, output_field=BigIntegerField())


def _bump_provider_stats(provider_id: int, *, listings: int = 0, transactions: int = 0, revenue_cents: int = 0):
    changes = {}
    if listings:
        changes["total_listings"] = F("total_listings") + listings
    if transactions:
        changes["total_transactions"] = F("total_transactions") + transactions
    if revenue_cents:
        changes["total_revenue_cents"] = _saturating_add("total_revenue_cents", revenue_cents)
    if changes:
        # all_objects: a soft-deleted provider's history still moves its numbers.
        Provider.all_objects.using(DB).filter(pk=provider_id).update(
            **changes, version=F("version") + 1, updated_at=timezone.now()
        )


def _listing_counts(status: str) -> int:
    return 1 if status == ServiceListing.Status.ACTIVE else 0


def _transaction_counts(status: str) -> int:
    return 0 if status == MarketplaceTransaction.Status.CANCELLED else 1


_REVENUE_STATES = {"paid", "disputed", "refunded"}


def _transaction_revenue(status: str, amount_cents: int, refunded_cents: int) -> int:
    return amount_cents - refunded_cents if status in _REVENUE_STATES else 0


def _is_blocked(*, provider_id: int, user_id: int) -> bool:
    return UserBlock.objects.using(DB).filter(provider_id=provider_id, blocked_user_id=user_id).exists()


def _refuse_if_blocked(*, provider_id: int, user_id: int, action: str, provider_locked: bool = False) -> None:
    """Check for a block with the provider row share-locked first: `user_block_create` locks it
    exclusively, so a block being created concurrently either commits before this check sees the
    table (and refuses) or waits until this transaction is done (the action came first). Shared
    locks do not wait for each other, so buyers are not serialised by it.

    A caller that will update the provider row later in the transaction must lock it for update
    up front instead (`provider_locked=True`): two share-lock holders that both upgrade deadlock."""
    if not provider_locked:
        with connections[DB].cursor() as cursor:
            cursor.execute("SELECT 1 FROM marketplace_providers WHERE id = %s FOR SHARE", [provider_id])
    if _is_blocked(provider_id=provider_id, user_id=user_id):
        raise PermissionDenied(f"This provider has blocked you; you cannot {action}.", code="blocked_by_provider")


def _live_provider(provider_id: int, *, lock: bool = False) -> Provider:
    """The provider, if it still takes listings, messages and sales. Deleted, or its person erased:
    410 `provider_gone` (not there at all: 404)."""
    queryset = Provider.all_objects.using(DB)
    if lock:
        queryset = queryset.select_for_update(no_key=True)
    provider = queryset.filter(pk=provider_id).first()
    if provider is None:
        raise NotFound(f"Provider #{provider_id} does not exist")
    if provider.deleted_at is not None or not MarketplaceUser.objects.using(DB).filter(pk=provider.user_id).exists():
        raise Gone(
            f"Provider #{provider_id} has left the marketplace: it takes no new messages or purchases.",
            code="provider_gone",
        )
    return provider


def _require_live_user(user_id: int) -> None:
    if not MarketplaceUser.objects.using(DB).filter(pk=user_id).exists():
        raise NotFound(f"MarketplaceUser #{user_id} does not exist")


def _touch_contact(*, provider_id: int, user_id: int, at=None) -> None:
    """Insert-or-update in one statement: two first contacts at once cannot both insert."""
    now = at or timezone.now()
    MarketplaceContact.objects.using(DB).bulk_create(
        [MarketplaceContact(provider_id=provider_id, user_id=user_id, first_contact_at=now, last_contact_at=now)],
        update_conflicts=True,
        unique_fields=["provider", "user"],
        update_fields=["last_contact_at"],
    )
