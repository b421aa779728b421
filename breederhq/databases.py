"""The database aliases: the one place that spells them.

Code names a database by these constants (`using=TENANT_DB`, `connections[MARKETPLACE_DB]`,
`databases={TENANT_DB, MARKETPLACE_DB}` in tests), never by the string, so a search finds every use
and a typo fails at import. This module imports nothing, so every layer may import it: the core, the
apps, the settings (`config/settings/base.py`, `DATABASES`) and the routing table
(`config/database_routing.py`, which says which app lives in which database).
`tests/config/test_database_alias_literals.py` fails on an alias spelled as a string anywhere else.
"""

#: The tenant database: breeders' data, staff users, sessions, payments.
TENANT_DB = "default"
#: The marketplace database: providers, listings, marketplace users and invoices.
MARKETPLACE_DB = "marketplace"
#: A streaming replica of the marketplace database, configured only by MARKETPLACE_REPLICA_DATABASE_URL.
#: No table is routed to it: the public read views choose it per request (breederhq/read_replica.py).
MARKETPLACE_REPLICA_DB = "marketplace_replica"

#: The databases that hold tables (migrated, checked, backed up); never the replica.
DATABASE_ALIASES = (TENANT_DB, MARKETPLACE_DB)
