"""The per-database core: tables that exist in both databases (see config.database_routing)."""
