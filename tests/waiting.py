"""Waiting for something another process does (a Celery worker, a beat, a second session), and a
clock that moves only when told, for tests of time-based behaviour that should not sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> bool:
    """True as soon as `predicate()` is truthy, False once `timeout` seconds have passed without it.

    Callers assert the result (`assert wait_until(...)`), so a failure names the line that waited.
    `clock` and `sleep` default to the real ones; a `ManualClock` passed as both waits no real time."""
    deadline = clock() + timeout
    while True:
        if predicate():
            return True
        if clock() >= deadline:
            return False
        sleep(interval)


class ManualClock:
    """A monotonic clock that moves only when advanced or slept on.

    Pass it where code takes a clock (`wait_until(..., clock=c, sleep=c.sleep)`, or a module's
    clock attribute via monkeypatch) to test time-based behaviour without real waiting."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
