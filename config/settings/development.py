"""Local development: the `make run` platform."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405
# Serve static files straight from the apps (no collectstatic in development or benchmarks).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
