"""tests/waiting.py: wait_until on an injected clock (no real waiting here) and the manual clock."""

from __future__ import annotations

from tests.waiting import ManualClock, wait_until


def test_wait_until_returns_true_once_the_predicate_holds_and_stops_asking():
    clock = ManualClock()
    asked = []

    def ready():
        asked.append(clock())
        return len(asked) == 3

    assert wait_until(ready, timeout=10, interval=0.5, clock=clock, sleep=clock.sleep)
    assert asked == [1000.0, 1000.5, 1001.0]  # asked at once, then every interval; not again after


def test_wait_until_gives_up_after_the_timeout_having_asked_one_last_time():
    clock = ManualClock(start=0)
    asked = []

    def never():
        asked.append(clock())
        return False

    assert wait_until(never, timeout=2, interval=0.5, clock=clock, sleep=clock.sleep) is False
    assert asked == [0, 0.5, 1.0, 1.5, 2.0]
    assert clock() == 2.0


def test_a_predicate_true_at_once_does_not_wait():
    clock = ManualClock()
    assert wait_until(lambda: "yes", timeout=0, clock=clock, sleep=clock.sleep)
    assert clock() == 1000.0


def test_the_manual_clock_moves_only_when_told():
    clock = ManualClock(start=5)
    assert clock() == clock() == 5
    clock.advance(1.5)
    clock.sleep(0.5)
    assert clock() == 7
