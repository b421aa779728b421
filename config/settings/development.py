"""Local development: the `make run` platform."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405
