"""Settings for the bare baseline server: the bench settings (same databases, connections kept
open, DEBUG off) with no middleware and a URLconf of the baseline view alone. What Django itself
costs for one indexed SELECT, without the platform's request cycle around it."""

from bench.settings import *  # noqa: F401,F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_urls"
