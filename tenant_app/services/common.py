"""The database alias every tenant write service names."""

from __future__ import annotations

from breederhq.databases import TENANT_DB

DB = TENANT_DB
