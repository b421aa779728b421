"""publish_later: the caller never waits on the broker; a failed publish is logged, not raised."""

from __future__ import annotations

import threading

from breederhq.jobs.publish_later import publish_later


class Recorder:
    """Stands where a Celery task would: records which thread published, and can fail or block."""

    name = "tests.recorder"

    def __init__(self, *, fail: bool = False, hold: threading.Event | None = None):
        self.fail, self.hold, self.done, self.threads = fail, hold, threading.Event(), []

    def delay(self, *args):
        if self.hold is not None:
            self.hold.wait(10)
        self.threads.append((threading.get_ident(), args))
        self.done.set()
        if self.fail:
            raise ConnectionError("broker down")


def test_the_publish_happens_on_another_thread_after_the_caller_returned():
    hold = threading.Event()
    task = Recorder(hold=hold)
    publish_later(task, 42)  # returns although the "broker" is stuck
    assert task.threads == []
    hold.set()
    assert task.done.wait(10)
    assert task.threads[0][0] != threading.get_ident() and task.threads[0][1] == (42,)


def test_a_failed_publish_is_logged_and_the_next_one_still_goes(caplog):
    failing, fine = Recorder(fail=True), Recorder()
    publish_later(failing, 1)
    publish_later(fine, 2)
    assert fine.done.wait(10)
    assert "could not publish tests.recorder(1,)" in caplog.text
