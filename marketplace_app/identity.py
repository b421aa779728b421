"""marketplace_app's answers to the core's identity port (breederhq/identity.py), registered by
MarketplaceAppConfig.ready(): a user's marketplace identity and the marketplace user itself. Moved
here from breederhq/api/auth.py, base.py and identity_cache.py so the core imports no domain app
(docs/architecture/layers.md)."""

from __future__ import annotations

from breederhq.api import identity_cache
from breederhq.databases import MARKETPLACE_DB
from marketplace_app.models import MarketplaceUser, Provider


def identity_of(user_id: int) -> tuple[int | None, str | None]:
    """(marketplace user id, kind) of the global user `user_id`, or (None, None): one query."""
    row = MarketplaceUser.objects.using(MARKETPLACE_DB).filter(tenant_user_id=user_id).values_list("id", "kind").first()
    return row if row is not None else (None, None)


def marketplace_user(marketplace_user_id) -> MarketplaceUser | None:
    """The marketplace user (not erased) with its provider, or None."""
    return (
        MarketplaceUser.objects.using(MARKETPLACE_DB).filter(pk=marketplace_user_id).select_related("provider").first()
    )


class MarketplaceAppIdentity:
    identity_of = staticmethod(identity_of)
    marketplace_user = staticmethod(marketplace_user)


def connect_identity_cache_invalidation() -> None:
    """Any save or delete of a marketplace user or a provider in this process drops the identity
    cache's entries it could have made stale (breederhq/api/identity_cache.py)."""
    identity_cache.drop_on_change(MarketplaceUser, "pk", "marketplace_user", uid="identity-mku")
    identity_cache.drop_on_change(Provider, "user_id", "marketplace_user", uid="identity-provider")
