"""Marketplace identities: made for a signed-in account on first need, erased on request."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from breederhq.errors import Conflict
from breederhq.outbox import outbox_enqueue
from marketplace_app.models import MarketplaceUser
from marketplace_app.services.common import DB, _get_locked
from marketplace_app.services.providers import _provider_withdraw


def marketplace_identity_for(*, tenant_user_id: int, email: str, display_name: str) -> MarketplaceUser:
    """The marketplace identity of a signed-in account, made on first need (linked by `tenant_user_id`).
    An unlinked identity with the same address is linked rather than duplicated: the caller checks that
    the account has confirmed that address."""
    with transaction.atomic(using=DB):
        user = MarketplaceUser.objects.using(DB).select_for_update().filter(tenant_user_id=tenant_user_id).first()
        if user is not None:
            return user
        user = (
            MarketplaceUser.objects.using(DB)
            .select_for_update()
            .filter(email__iexact=email, tenant_user_id__isnull=True)
            .first()
        )
        if user is not None:
            user.tenant_user_id = tenant_user_id
            user.save(using=DB, update_fields=["tenant_user_id", "updated_at"])
            return user
        try:
            with transaction.atomic(using=DB):
                return MarketplaceUser.objects.using(DB).create(
                    email=email, display_name=display_name[:200] or email, tenant_user_id=tenant_user_id
                )
        except IntegrityError as exc:
            # A simultaneous request of the same account made it first (nothing to lock before it existed).
            mine = MarketplaceUser.objects.using(DB).filter(tenant_user_id=tenant_user_id).first()
            if mine is not None:
                return mine
            raise Conflict(
                "Another marketplace account uses this email address.", code="marketplace_email_taken"
            ) from exc


def marketplace_user_erase(*, user_id: int) -> MarketplaceUser:
    """Erase a person from the marketplace: personal fields anonymised, the row soft-deleted (what
    refers to it keeps resolving), their provider (if any) withdrawn — listings archived, provider
    soft-deleted, so it takes no new messages or purchases — and every tenant's contact linked to them
    unlinked through the outbox. Idempotent (erasing again withdraws a provider left live earlier)."""
    with transaction.atomic(using=DB):
        user = _get_locked(MarketplaceUser, user_id, manager="all_objects")
        _provider_withdraw(user_id=user.pk)
        if user.email == f"erased-{user.pk}@erased.invalid":
            return user
        user.email = f"erased-{user.pk}@erased.invalid"
        user.display_name = "Erased user"
        user.phone = ""
        user.deleted_at = user.deleted_at or timezone.now()
        user.save(using=DB, update_fields=["email", "display_name", "phone", "deleted_at", "updated_at"])
        outbox_enqueue(using=DB, topic="marketplace.user_erased", payload={"marketplace_user_id": user.pk})
    return user
