"""The per-database core: tables that exist in both databases (see config.database_routing).

One module per concern; each model is always used with an explicit database alias.
"""

from breederhq.models.audit import AuthorizationAudit, CrossTenantQueryAudit  # noqa: F401
from breederhq.models.crossdb import CrossDbReference

__all__ = ["CrossDbReference"]
