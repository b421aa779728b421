"""Waiting for something another process does (a Celery worker, a beat, a second session)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1) -> bool:
    """True as soon as `predicate()` is truthy, False once `timeout` seconds have passed without it.

    Callers assert the result (`assert wait_until(...)`), so a failure names the line that waited."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
