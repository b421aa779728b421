"""The marketplace's side of a tenant user's soft delete (outbox topic `tenant.user_deleted`, written by
tenant_app/user_deletion.py): every marketplace identity linked to the account by `tenant_user_id`
is closed like an erased one, without anonymising it — its provider withdrawn (listings archived,
provider soft-deleted) and the identity soft-deleted. The link stays, and resolves as deleted."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB

DB = MARKETPLACE_DB


def tenant_user_deleted(*, tenant_user_id: int) -> list[int]:
    """Idempotent: an identity already deleted is left as it is. Returns the identities closed."""
    from marketplace_app.models import MarketplaceUser
    from marketplace_app.services.providers import _provider_withdraw

    closed = []
    with transaction.atomic(using=DB):
        for user in (
            MarketplaceUser.all_objects.using(DB)
            .select_for_update()
            .filter(tenant_user_id=tenant_user_id, deleted_at__isnull=True)
            .order_by("pk")
        ):
            _provider_withdraw(user_id=user.pk)
            user.deleted_at = timezone.now()
            user.save(using=DB, update_fields=["deleted_at", "updated_at"])
            closed.append(user.pk)
    return closed
