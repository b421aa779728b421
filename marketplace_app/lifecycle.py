"""Data lifecycle for the marketplace database: what soft-deleted rows may finally go.

Policy: a soft-deleted provider is purged after `PROVIDER_RETENTION` when it never sold anything
(no transactions, no invoices, no threads) and nothing in the other database points at it; its
listings and images go with it. Anything with a financial or conversation history stays soft-deleted
for good. Marketplace users are never purged: erasure anonymises them instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from breederhq.crossdb import referencing_rows
from breederhq.databases import MARKETPLACE_DB
from marketplace_app.models import MarketplaceTransaction, MessageThread, Provider, ServiceListing

DB = MARKETPLACE_DB
PROVIDER_RETENTION = timedelta(days=365)


def provider_purge_deleted(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Hard-delete purgeable soft-deleted providers; returns their ids."""
    cutoff = (now or timezone.now()) - PROVIDER_RETENTION
    candidates = (
        Provider.all_objects.using(DB)
        .filter(deleted_at__lt=cutoff)
        .exclude(Exists(MarketplaceTransaction.objects.using(DB).filter(provider_id=OuterRef("pk"))))
        .exclude(Exists(MessageThread.objects.using(DB).filter(provider_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    purged = []
    for provider_id in list(candidates):
        if referencing_rows(Provider, provider_id):
            continue  # something in the other database still points at it: keep it soft-deleted
        with transaction.atomic(using=DB):
            provider = Provider.all_objects.using(DB).select_for_update().get(pk=provider_id)
            ServiceListing.objects.using(DB).filter(provider_id=provider_id).delete()
            provider.hard_delete(using=DB)
        purged.append(provider_id)
    return purged
