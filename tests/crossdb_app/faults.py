"""Fault injection at the outbox's steps between the two databases, and at the steps of a card
refund between Stripe and our two databases (`payments_app.refunds.refund_step`).

Faults are planned in Redis (the test session's cache), so they fire in this process and in a real
Celery worker process alike. `InjectedFault` is an ordinary failure (the relay records it and
retries); `InjectedCrash` is a BaseException nothing in our code catches: the process "dies" at that
point, every open transaction rolls back, and nothing is recorded. `kill=True` really kills the
process with SIGKILL (only for faults meant to fire in a worker process).
"""

from __future__ import annotations

import os
import signal

from django.core.cache import cache

from breederhq.outbox import outbox_step

STEPS = (
    "enqueue.before_commit",
    "enqueue.after_commit",
    "relay.before_effect",
    "relay.after_effect",
    "relay.after_target_commit",
    "refund.accepted",
    "refund.recorded",
)
_KEY = "crossdb-fault:{step}"
_KIND = "crossdb-fault-kind:{step}"


class InjectedFault(Exception):
    pass


class InjectedCrash(BaseException):
    pass


def inject(step: str, *, times: int = 1, crash: bool = False, kill: bool = False) -> None:
    assert step in STEPS, step
    kind = "kill" if kill else "crash" if crash else "fault"
    cache.set(_KIND.format(step=step), kind, timeout=600)
    cache.set(_KEY.format(step=step), times, timeout=600)


def remaining(step: str) -> int:
    return cache.get(_KEY.format(step=step), 0)


def clear() -> None:
    cache.delete_many([_KEY.format(step=s) for s in STEPS] + [_KIND.format(step=s) for s in STEPS])


def _fire(sender, step, message=None, request=None, **kwargs):
    key = _KEY.format(step=step)
    if not cache.get(key):
        return
    try:
        left = cache.decr(key)
    except ValueError:  # expired or cleared meanwhile
        return
    if left < 0:
        return
    kind = cache.get(_KIND.format(step=step))
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    error = InjectedCrash if kind == "crash" else InjectedFault
    about = f"{message.topic} {message.message_id}" if message is not None else f"refund request #{request.pk}"
    raise error(f"injected at {step} for {about}")


def connect() -> None:
    from payments_app.refunds import refund_step

    outbox_step.connect(_fire, dispatch_uid="crossdb-test-faults")
    refund_step.connect(_fire, dispatch_uid="crossdb-test-refund-faults")
