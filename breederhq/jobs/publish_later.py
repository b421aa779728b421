"""Publish Celery messages from a background thread, so a request never waits on the broker.

`publish_later(task, *args)` queues the publish and returns at once; one daemon thread per process
(started on first use, again after a fork) calls `task.delay(*args)`. Only for tasks whose work is
recorded in the database first and that a beat sweep re-enqueues when a message is lost (a process
killed with messages still queued, the broker down): the Stripe inbox (`retry_due_stripe_events`)
is one. A failed publish is logged, never raised.

Under a burst the thread takes everything queued at once. `publish_later(task, arg,
batch_task=batch)` names a companion task taking a list of such single arguments: when several items
of the same task and companion are waiting, they go out as one `batch.delay([arg, ...])` message (at
most `BATCH_MAX` arguments each) instead of one message each. A lone item still goes out as
`task.delay(arg)`, so a quiet system pays no latency for it.

A steady stream is a burst too, only spread out: a web worker taking one Stripe delivery every
millisecond or two would otherwise publish one message per event, and a Celery publish costs about
as much CPU as the rest of the request. So when the previous publish was less than `BUSY_SECONDS`
ago, the thread sleeps `LINGER_SECONDS` (unless `BATCH_MAX` items wait already) before it publishes: under load a
message carries the events of the last few milliseconds; after a quiet spell the first item goes
out at once.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from breederhq.observability import context as log_context

logger = logging.getLogger(__name__)

#: The most arguments one batch message carries.
BATCH_MAX = 100
#: A publish less than this long after the previous one waits up to LINGER_SECONDS for company.
BUSY_SECONDS = 0.2
LINGER_SECONDS = 0.05

_queue: queue.SimpleQueue = queue.SimpleQueue()
_started_in_pid: int | None = None
_start_lock = threading.Lock()


def _drain(*, last_published: float) -> list[tuple]:
    """Block for one item, then take whatever else is queued already (up to a bound); when the
    previous publish was recent, first sleep LINGER_SECONDS so what arrives meanwhile comes too.

    One sleep, not a `get(timeout=...)` per item: each of those woke this thread for every item a
    request queued, and the wake-ups (the GIL handed to and fro) cost the web worker about as much
    CPU per Stripe delivery as its insert (bench/profile.py webhook)."""
    items = [_queue.get()]
    if time.monotonic() - last_published < BUSY_SECONDS and _queue.qsize() < BATCH_MAX:
        time.sleep(LINGER_SECONDS)
    while len(items) < 10 * BATCH_MAX:
        try:
            items.append(_queue.get_nowait())
        except queue.Empty:
            break
    return items


def _publish(task, *args, tenant: str = "") -> None:
    token = log_context.tenant_id.set(tenant)  # the message's tenant header (observability/celery_signals.py)
    try:
        task.delay(*args)
    except Exception:  # broker down: the sweep picks the work up from the database
        logger.exception("could not publish %s%r; the sweep will pick it up", task.name, args)
    finally:
        log_context.tenant_id.reset(token)


def _run() -> None:
    last_published = float("-inf")
    while True:
        items = _drain(last_published=last_published)
        # (task, batch_task, tenant) -> their args, in order of arrival; tasks keyed by identity, they
        # need not hash; a batch carries one tenant's work only.
        groups: dict[tuple[int, int, str], tuple[object, object, list[tuple]]] = {}
        for task, args, batch_task, tenant in items:
            groups.setdefault((id(task), id(batch_task), tenant), (task, batch_task, []))[2].append(args)
        for (_, _, tenant), (task, batch_task, calls) in groups.items():
            if batch_task is None or len(calls) == 1:
                for args in calls:
                    _publish(task, *args, tenant=tenant)
                continue
            for start in range(0, len(calls), BATCH_MAX):
                chunk = calls[start : start + BATCH_MAX]
                if len(chunk) == 1:
                    _publish(task, *chunk[0], tenant=tenant)
                else:
                    _publish(batch_task, [args[0] for args in chunk], tenant=tenant)
        last_published = time.monotonic()


def _ensure_thread() -> None:
    global _started_in_pid, _queue
    if _started_in_pid == os.getpid():
        return
    with _start_lock:
        if _started_in_pid != os.getpid():
            _queue = queue.SimpleQueue()  # a forked child must not inherit the parent's backlog
            threading.Thread(target=_run, name="publish-later", daemon=True).start()
            _started_in_pid = os.getpid()


def publish_later(task, *args, batch_task=None) -> None:
    """Queue `task.delay(*args)`. With `batch_task`, `args` is a single argument and several waiting
    items may be published together as `batch_task.delay([arg, ...])`."""
    if batch_task is not None and len(args) != 1:
        raise TypeError("publish_later with a batch_task takes exactly one argument")
    _ensure_thread()
    _queue.put((task, args, batch_task, log_context.tenant_id.get()))


def publish_after_commit(task, *args, using: str, batch_task=None) -> None:
    """Once the caller's transaction on `using` commits, queue `task.delay(*args)` for the publisher
    thread. Every enqueue from a request goes through here (or `publish_later`): the request thread
    only appends to an in-process queue, so a broker that is down or silent cannot hold it. The
    caller's row is the durable record; a beat sweep re-enqueues whatever this loses."""
    from django.db import transaction

    transaction.on_commit(lambda: publish_later(task, *args, batch_task=batch_task), using=using, robust=True)


def wait_until_published(timeout: float = 30) -> bool:
    """Block until everything queued so far has been handed to the broker (or failed): for tests,
    and a worker or command that wants its messages out before it exits."""
    done = threading.Event()
    publish_later(_Marker(done))
    return done.wait(timeout)


class _Marker:
    """Stands where a task would in the queue; its `delay` sets an event once reached."""

    name = "publish_later.marker"

    def __init__(self, done: threading.Event):
        self.done = done

    def delay(self, *args) -> None:
        self.done.set()


def pending() -> int:
    """Messages not yet handed to the broker (for tests and diagnostics)."""
    return _queue.qsize()
