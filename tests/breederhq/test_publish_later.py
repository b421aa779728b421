"""publish_later: the caller never waits on the broker; a failed publish is logged, not raised."""

from __future__ import annotations

import threading
import time

import pytest

from breederhq.jobs.publish_later import publish_later
from tests.waiting import wait_until


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


class Held(Recorder):
    """Keeps the publisher thread busy until released, so what is queued meanwhile waits together."""

    name = "tests.held"

    def __init__(self):
        super().__init__(hold=threading.Event())
        self.started = threading.Event()

    def delay(self, *args):
        self.started.set()
        super().delay(*args)


def hold_the_publisher() -> Held:
    held = Held()
    publish_later(held)
    assert held.started.wait(10)
    return held


def test_items_waiting_together_go_out_as_one_batch_message_per_task_in_chunks(monkeypatch):
    from breederhq.jobs import publish_later as module

    monkeypatch.setattr(module, "BATCH_MAX", 3)
    single, batch, other = Recorder(), Recorder(), Recorder()
    held = hold_the_publisher()
    for pk in range(1, 6):
        publish_later(single, pk, batch_task=batch)
    publish_later(other, "x")
    held.hold.set()
    assert other.done.wait(10)
    assert [args for _, args in batch.threads] == [([1, 2, 3],), ([4, 5],)]
    assert single.threads == [] and [args for _, args in other.threads] == [("x",)]


def test_a_lone_item_goes_out_as_the_task_itself():
    single, batch = Recorder(), Recorder()
    held = hold_the_publisher()
    publish_later(single, 7, batch_task=batch)
    held.hold.set()
    assert single.done.wait(10)
    assert [args for _, args in single.threads] == [(7,)] and batch.threads == []


def test_a_failed_batch_publish_is_logged_not_raised(caplog):
    single, failing, fine = Recorder(), Recorder(fail=True), Recorder()
    held = hold_the_publisher()
    publish_later(single, 1, batch_task=failing)
    publish_later(single, 2, batch_task=failing)
    publish_later(fine, 3)
    held.hold.set()
    assert fine.done.wait(10)
    assert "could not publish tests.recorder([1, 2],)" in caplog.text


def test_a_batch_task_takes_exactly_one_argument():
    with pytest.raises(TypeError):
        publish_later(Recorder(), 1, 2, batch_task=Recorder())


def test_a_steady_stream_goes_out_in_few_messages_and_every_item_once_in_order():
    """One item every millisecond (a web worker taking Stripe deliveries): after the first, the
    publisher lingers for company, so the items share messages instead of one message each."""
    single, batch = Recorder(), Recorder()
    for pk in range(60):
        publish_later(single, pk, batch_task=batch)
        time.sleep(0.001)

    def published():
        return [pk for _, args in single.threads for pk in args] + [pk for _, args in batch.threads for pk in args[0]]

    assert wait_until(lambda: len(published()) >= 60, timeout=10, interval=0.01)
    assert sorted(published()) == list(range(60))
    assert [pk for _, args in batch.threads for pk in args[0]] == sorted(
        pk for _, args in batch.threads for pk in args[0]
    )
    assert len(single.threads) + len(batch.threads) <= 20


def test_after_a_quiet_spell_a_lone_item_goes_out_without_lingering(monkeypatch):
    from breederhq.jobs import publish_later as module

    monkeypatch.setattr(module, "BUSY_SECONDS", 0.05)
    time.sleep(0.1)  # whatever earlier tests published, the publisher is quiet now
    first = Recorder()
    publish_later(first, 1)
    assert first.done.wait(10)
    monkeypatch.setattr(module, "LINGER_SECONDS", 5.0)  # a linger would outlast the wait below
    time.sleep(0.1)  # quiet for longer than BUSY_SECONDS
    lone = Recorder()
    publish_later(lone, 2)
    assert lone.done.wait(3) and [args for _, args in lone.threads] == [(2,)]
