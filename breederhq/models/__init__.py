"""The per-database core: tables that exist in both databases (see config.database_routing).

One module per concern; each model is always used with an explicit database alias.
"""

from breederhq.models.audit import AuthorizationAudit, CrossTenantQueryAudit  # noqa: F401
from breederhq.models.crossdb import CrossDbReference
from breederhq.models.email import OutboundEmail
from breederhq.models.idempotency import IdempotencyKey
from breederhq.models.outbox import AppliedMessage, OutboxMessage
from breederhq.models.per_database import (
    APPLIED_MESSAGE_PROXIES,
    CROSSDB_REFERENCE_PROXIES,
    OUTBOX_PROXIES,
    MarketplaceDbAppliedMessage,
    MarketplaceDbAuthorizationAudit,
    MarketplaceDbCrossDbReference,
    MarketplaceDbIdempotencyKey,
    MarketplaceDbOutboundEmail,
    MarketplaceDbOutboxMessage,
    TenantDbAppliedMessage,
    TenantDbAuthorizationAudit,
    TenantDbCrossDbReference,
    TenantDbCrossTenantQueryAudit,
    TenantDbIdempotencyKey,
    TenantDbOutboundEmail,
    TenantDbOutboxMessage,
)

__all__ = [
    "AppliedMessage",
    "CrossDbReference",
    "IdempotencyKey",
    "MarketplaceDbIdempotencyKey",
    "MarketplaceDbOutboundEmail",
    "OutboundEmail",
    "OutboxMessage",
    "TenantDbIdempotencyKey",
    "TenantDbOutboundEmail",
]
