"""A provider blocking a marketplace user."""

from __future__ import annotations

from django.db import transaction

from breederhq.errors import ValidationFailed
from marketplace_app.models import UserBlock
from marketplace_app.services.common import DB, _live_provider


def user_block_create(*, provider_id: int, user_id: int, reason: str = "") -> UserBlock:
    """Idempotent: blocking twice keeps the first block."""
    with transaction.atomic(using=DB):
        # Exclusive against the share lock taken by _refuse_if_blocked (no_key: only this row).
        provider = _live_provider(provider_id, lock=True)
        if provider.user_id == user_id:
            raise ValidationFailed("A provider cannot block itself.")
        block, _created = UserBlock.objects.using(DB).get_or_create(
            provider=provider, blocked_user_id=user_id, defaults={"reason": reason}
        )
    return block


def user_block_delete(*, provider_id: int, user_id: int) -> int:
    with transaction.atomic(using=DB):
        deleted, _ = UserBlock.objects.using(DB).filter(provider_id=provider_id, blocked_user_id=user_id).delete()
    return deleted
