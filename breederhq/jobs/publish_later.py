"""Publish Celery messages from a background thread, so a request never waits on the broker.

`publish_later(task, *args)` queues the publish and returns at once; one daemon thread per process
(started on first use, again after a fork) calls `task.delay(*args)`. Only for tasks whose work is
recorded in the database first and that a beat sweep re-enqueues when a message is lost (a process
killed with messages still queued, the broker down): the Stripe inbox (`retry_due_stripe_events`)
is one. A failed publish is logged, never raised.
"""

from __future__ import annotations

import logging
import os
import queue
import threading

logger = logging.getLogger(__name__)

_queue: queue.SimpleQueue = queue.SimpleQueue()
_started_in_pid: int | None = None
_start_lock = threading.Lock()


def _run() -> None:
    while True:
        task, args = _queue.get()
        try:
            task.delay(*args)
        except Exception:  # broker down: the sweep picks the work up from the database
            logger.exception("could not publish %s%r; the sweep will pick it up", task.name, args)


def _ensure_thread() -> None:
    global _started_in_pid, _queue
    if _started_in_pid == os.getpid():
        return
    with _start_lock:
        if _started_in_pid != os.getpid():
            _queue = queue.SimpleQueue()  # a forked child must not inherit the parent's backlog
            threading.Thread(target=_run, name="publish-later", daemon=True).start()
            _started_in_pid = os.getpid()


def publish_later(task, *args) -> None:
    _ensure_thread()
    _queue.put((task, args))


def pending() -> int:
    """Messages not yet handed to the broker (for tests and diagnostics)."""
    return _queue.qsize()
