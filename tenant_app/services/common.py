"""The database alias every tenant write service names."""

from __future__ import annotations

DB = "default"
