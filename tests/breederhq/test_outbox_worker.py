"""The relay across a real Celery worker process: the task enqueued on commit applies the message,
and the beat sweep task picks up what a failure in the worker (or a lost hand-over) left behind."""

import pytest
from django.utils import timezone

from breederhq.databases import DATABASE_ALIASES
from breederhq.models import AppliedMessage, OutboxMessage
from breederhq.outbox import RelayOutcome
from breederhq.tasks import outbox_relay_due_task
from tests.crossdb_app.flows import FLOWS, assert_exactly_once_and_clean
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]
# One worker serves the whole module (tests/fixtures/celery_worker.py, module_celery_worker). A pool
# process killed in a task is noticed after 1 s instead of Celery's 10 s: the tests below are about
# the redelivery that follows, not about how long the worker waits first.
CELERY_WORKER_ENVIRONMENT = {"CELERY_WORKER_LOST_WAIT": "1"}


def message_of(flow):
    return OutboxMessage.objects.using(flow.source).get()


def sweep_in_worker():
    return outbox_relay_due_task.delay().get(timeout=30)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_the_task_enqueued_on_commit_applies_each_flow_in_the_worker(flow, faults, module_celery_worker):
    state = flow.arrange()
    flow.act(state)
    assert wait_until(lambda: message_of(flow).status == "applied")
    assert_exactly_once_and_clean(flow, state)


def test_a_fault_in_the_worker_is_recorded_and_the_sweep_applies_it_once(faults, module_celery_worker):
    flow = FLOWS[0]
    state = flow.arrange()
    faults.inject("relay.before_effect")
    flow.act(state)
    assert wait_until(lambda: message_of(flow).attempts == 1)
    message = message_of(flow)
    assert message.status == "pending" and "InjectedFault" in message.last_error
    assert not flow.effect_done(state)
    # Time passes to the next attempt (instead of waiting out the backoff):
    OutboxMessage.objects.using(flow.source).update(next_attempt_at=timezone.now())
    assert sweep_in_worker() == {RelayOutcome.APPLIED: 1}
    assert_exactly_once_and_clean(flow, state)


def test_a_failure_in_the_worker_after_the_target_commit_is_not_applied_twice(faults, module_celery_worker):
    flow = FLOWS[1]
    state = flow.arrange()
    faults.inject("relay.after_target_commit")
    flow.act(state)
    assert wait_until(
        lambda: (
            faults.remaining("relay.after_target_commit") == 0 and AppliedMessage.objects.using(flow.target).exists()
        )
    )
    # One worker process: the sweep below runs only after the failed task rolled its source
    # transaction back, so the message is pending and unlocked when the sweep looks at it.
    assert flow.effect_done(state)
    assert sweep_in_worker() == {RelayOutcome.ALREADY_APPLIED: 1}
    assert_exactly_once_and_clean(flow, state)


def test_a_lost_hand_over_is_relayed_by_the_sweep_in_the_worker(faults, module_celery_worker):
    flow = FLOWS[2]
    state = flow.arrange()
    faults.inject("enqueue.after_commit")
    flow.act(state)
    assert faults.remaining("enqueue.after_commit") == 0
    assert message_of(flow).status == "pending"
    assert sweep_in_worker() == {RelayOutcome.APPLIED: 1}
    assert_exactly_once_and_clean(flow, state)


@pytest.mark.parametrize("step", ["relay.before_effect", "relay.after_effect", "relay.after_target_commit"])
def test_a_worker_process_killed_mid_relay_is_redelivered_and_applies_once(step, faults, module_celery_worker):
    flow = FLOWS[0]
    state = flow.arrange()
    faults.inject(step, kill=True)
    flow.act(state)
    # SIGKILL drops the worker's database connections (PostgreSQL rolls back what was open) and the
    # unacknowledged task goes back to the queue (task_reject_on_worker_lost); it runs again.
    assert wait_until(lambda: message_of(flow).status == "applied", timeout=60)
    assert faults.remaining(step) == 0
    assert message_of(flow).attempts == 0  # a killed attempt records nothing
    assert_exactly_once_and_clean(flow, state)
