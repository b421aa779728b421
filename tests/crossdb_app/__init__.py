"""A test-only pair of apps that exercises every part of the cross-database mechanism generically.

`tenant_side` (label crossdb_tenant) lives in the tenant database, `marketplace_side` (label
crossdb_marketplace) in the marketplace database; the router sends each label to its database. They
mirror the real flows in miniature: a marketplace transaction points at a tenant invoice or a
marketplace invoice; a tenant contact points at a marketplace member; `services.py` holds the three
cross-database flows and each side's `outbox_handlers.py` applies them. Installed only by
config/settings/test.py.
"""
