"""The per-database core: tables that exist in both databases (see config.database_routing).

One module per concern; each model is always used with an explicit database alias.
"""

from breederhq.models.crossdb import CrossDbReference
from breederhq.models.outbox import AppliedMessage, OutboxMessage

__all__ = ["AppliedMessage", "CrossDbReference", "OutboxMessage"]
