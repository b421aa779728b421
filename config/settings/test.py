"""The test suite: real PostgreSQL and Redis, fast password hashing."""

from .base import *  # noqa: F401,F403

# The settings this module extends, by name (the star import above brings in the rest).
from .base import (
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS,
    DATABASES,
    INSTALLED_APPS,
    REST_FRAMEWORK,
    env,
)

DEBUG = False
# A test-only pair of apps, one per database, that exercises the cross-database mechanism.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.crossdb_app.tenant_side", "tests.crossdb_app.marketplace_side"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
# Tests reuse nothing between connections, so a leaked setting would show up, not hide.
for _db in DATABASES.values():
    _db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)

# Parallel test sessions (and pytest-xdist workers) share one Redis: each gets its own key prefix
# for broker, results, worker heartbeats and cache, so one session's worker never takes another's
# tasks.
_session = env("TEST_SESSION_ID", default="test") + "-" + env("PYTEST_XDIST_WORKER", default="main")
CELERY_KEY_PREFIX = f"{_session}:"
CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": CELERY_KEY_PREFIX}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    **CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS,
    "global_keyprefix": CELERY_KEY_PREFIX,
}
CACHES["default"]["KEY_PREFIX"] = f"breederhq-{_session}"
# Throttling is exercised by its own tests with low rates; the rest of the suite must not trip it.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "auth_ip": "100000/min",
        "write_user": "100000/min",
        "write_ip": "100000/min",
        "public_read_ip": "100000/min",
        "account_email": "100000/min",
    },
}
# Tests roll their database writes back but not Redis, and a test's own writes commit only in
# transactional tests: a cached search would answer from another test's data. The search cache has
# its own tests (tests/marketplace_app/test_search_cache.py), which turn it on.
LISTING_SEARCH_CACHE_SECONDS = 0
