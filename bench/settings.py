"""Settings for the benchmark server: production-like (DEBUG off, quiet logs, persistent
connections) on the development defaults, with the baseline view added to the URLs."""

from config.settings.development import *  # noqa: F401,F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
for _db in DATABASES.values():  # noqa: F405
    _db["CONN_MAX_AGE"] = 600
