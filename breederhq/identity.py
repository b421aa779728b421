"""The identity port: who the caller is in the tenants and in the marketplace, asked by the core's
request plumbing (breederhq.tenancy, breederhq.api) without importing a domain app
(docs/architecture/layers.md).

Each side registers its answers in its AppConfig.ready():

- tenant_app (tenant_app/identity.py): a user's memberships (each with its tenant loaded), the ids of
  the tenants they belong to (for a token's claims), the refresh-token family model (one row per
  sign-in, breederhq.api.sessions);
- marketplace_app (marketplace_app/identity.py): a user's marketplace identity (id and kind) and the
  marketplace user itself (with its provider), and it drops the identity cache's entries when those
  rows change.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from breederhq.databases import TENANT_DB


class TenantIdentity(Protocol):
    def user_memberships(self, user_id: int, *, using: str = TENANT_DB) -> list: ...

    def tenant_ids(self, user_id: int) -> list[int]: ...

    def refresh_family_model(self) -> Any: ...


class MarketplaceIdentity(Protocol):
    def identity_of(self, user_id: int) -> tuple[int | None, str | None]: ...

    def marketplace_user(self, marketplace_user_id) -> Any: ...


_tenant: TenantIdentity | None = None
_marketplace: MarketplaceIdentity | None = None


def register_tenant_identity(identity: TenantIdentity) -> None:
    global _tenant
    _tenant = identity


def register_marketplace_identity(identity: MarketplaceIdentity) -> None:
    global _marketplace
    _marketplace = identity


def tenant_identity() -> TenantIdentity:
    if _tenant is None:
        raise ImproperlyConfigured("No tenant identity is registered (tenant_app is not installed?).")
    return _tenant


def marketplace_identity() -> MarketplaceIdentity:
    if _marketplace is None:
        raise ImproperlyConfigured("No marketplace identity is registered (marketplace_app is not installed?).")
    return _marketplace
