"""One proxy per database for the core models that exist in both, so the admin (and anything else
that cannot pass `using=`) reaches each database's rows through its own class."""

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models.audit import AuthorizationAudit, CrossTenantQueryAudit
from breederhq.models.crossdb import CrossDbReference
from breederhq.models.email import OutboundEmail
from breederhq.models.idempotency import IdempotencyKey
from breederhq.models.outbox import AppliedMessage, OutboxMessage


class TenantDbOutboundEmail(OutboundEmail):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "outbound email (tenant DB)"
        verbose_name_plural = "outbound emails (tenant DB)"


class MarketplaceDbOutboundEmail(OutboundEmail):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "outbound email (marketplace DB)"
        verbose_name_plural = "outbound emails (marketplace DB)"


class TenantDbIdempotencyKey(IdempotencyKey):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "idempotency key (tenant DB)"
        verbose_name_plural = "idempotency keys (tenant DB)"


class MarketplaceDbIdempotencyKey(IdempotencyKey):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "idempotency key (marketplace DB)"
        verbose_name_plural = "idempotency keys (marketplace DB)"


# The audit trails (append-only), one admin page per database.


class TenantDbAuthorizationAudit(AuthorizationAudit):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "authorization decision (tenant DB)"
        verbose_name_plural = "authorization decisions (tenant DB)"


class MarketplaceDbAuthorizationAudit(AuthorizationAudit):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "authorization decision (marketplace DB)"
        verbose_name_plural = "authorization decisions (marketplace DB)"


class TenantDbCrossTenantQueryAudit(CrossTenantQueryAudit):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "cross-tenant access (tenant DB)"
        verbose_name_plural = "cross-tenant accesses (tenant DB)"


# The cross-database machinery (outbox, applied message ids, reference registry), one page per database.


class TenantDbOutboxMessage(OutboxMessage):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "outbox message (tenant DB)"
        verbose_name_plural = "outbox messages (tenant DB)"


class MarketplaceDbOutboxMessage(OutboxMessage):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "outbox message (marketplace DB)"
        verbose_name_plural = "outbox messages (marketplace DB)"


class TenantDbAppliedMessage(AppliedMessage):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "applied message (tenant DB)"
        verbose_name_plural = "applied messages (tenant DB)"


class MarketplaceDbAppliedMessage(AppliedMessage):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "applied message (marketplace DB)"
        verbose_name_plural = "applied messages (marketplace DB)"


class TenantDbCrossDbReference(CrossDbReference):
    database_alias = TENANT_DB

    class Meta:
        proxy = True
        verbose_name = "cross-database reference (tenant DB)"
        verbose_name_plural = "cross-database references (tenant DB)"


class MarketplaceDbCrossDbReference(CrossDbReference):
    database_alias = MARKETPLACE_DB

    class Meta:
        proxy = True
        verbose_name = "cross-database reference (marketplace DB)"
        verbose_name_plural = "cross-database references (marketplace DB)"


#: {alias: proxy} for the pages that show one database's rows of a model in both.
OUTBOX_PROXIES = {TENANT_DB: TenantDbOutboxMessage, MARKETPLACE_DB: MarketplaceDbOutboxMessage}
APPLIED_MESSAGE_PROXIES = {TENANT_DB: TenantDbAppliedMessage, MARKETPLACE_DB: MarketplaceDbAppliedMessage}
CROSSDB_REFERENCE_PROXIES = {TENANT_DB: TenantDbCrossDbReference, MARKETPLACE_DB: MarketplaceDbCrossDbReference}
