"""Fault injection: each cross-database flow fails at every step between the two databases, then
the relay runs, and each effect has happened exactly once with crossdb_check clean.

Steps: before the source commit, right after it (the relay task is never handed over), during the
relay before the effect, after the effect but before the message id is recorded, and after the
target commit but before the source row is marked applied. "fault" is an error our code sees and
records; "crash" is the process dying there (nothing catches it, open transactions roll back).
"""

import pytest

from breederhq.crossdb_check import run_crossdb_check
from breederhq.databases import DATABASE_ALIASES
from breederhq.models import AppliedMessage, OutboxMessage
from breederhq.outbox import RelayOutcome, outbox_relay_due
from tests.breederhq.conftest import relay_until_quiet
from tests.crossdb_app.faults import InjectedCrash, InjectedFault
from tests.crossdb_app.flows import FLOWS, assert_exactly_once_and_clean, effects

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)


def assert_converged_exactly_once(flow, state):
    relay_until_quiet()
    assert_exactly_once_and_clean(flow, state)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_no_fault(flow, faults):
    state = flow.arrange()
    flow.act(state)
    assert not flow.effect_done(state)  # nothing crosses before the relay runs
    assert_converged_exactly_once(flow, state)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_crash_before_the_source_commit_leaves_nothing_and_a_retry_of_the_flow_converges(flow, faults):
    state = flow.arrange()
    faults.inject("enqueue.before_commit", crash=True)
    with pytest.raises(InjectedCrash):
        flow.act(state)
    assert not flow.source_changed(state)
    assert not OutboxMessage.objects.using(flow.source).exists()
    assert outbox_relay_due() == {}
    assert run_crossdb_check(stuck_after_minutes=0)["problems"] == []

    flow.act(state)  # the user (or the caller's retry) does it again
    assert_converged_exactly_once(flow, state)


@pytest.mark.parametrize("crash", [False, True], ids=["fault", "crash"])
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_failure_right_after_the_source_commit_is_caught_by_the_sweep(flow, crash, faults):
    state = flow.arrange()
    faults.inject("enqueue.after_commit", crash=crash)
    if crash:
        with pytest.raises(InjectedCrash):
            flow.act(state)
    else:
        flow.act(state)  # the hand-over failed; the caller's change stands (robust on_commit)
    assert faults.remaining("enqueue.after_commit") == 0
    assert flow.source_changed(state)
    assert OutboxMessage.objects.using(flow.source).get().status == "pending"
    assert not flow.effect_done(state)
    assert_converged_exactly_once(flow, state)


@pytest.mark.parametrize("step", ["relay.before_effect", "relay.after_effect"])
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_a_fault_during_the_relay_is_recorded_and_retried(flow, step, faults):
    state = flow.arrange()
    flow.act(state)
    faults.inject(step, times=2)
    assert outbox_relay_due() == {RelayOutcome.RETRY: 1}
    message = OutboxMessage.objects.using(flow.source).get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert f"InjectedFault: injected at {step}" in message.last_error
    assert not flow.effect_done(state)
    assert effects(flow.target) == []
    assert not AppliedMessage.objects.using(flow.target).exists()
    assert_converged_exactly_once(flow, state)
    assert OutboxMessage.objects.using(flow.source).get().attempts == 2


@pytest.mark.parametrize("step", ["relay.before_effect", "relay.after_effect"])
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_a_crash_during_the_relay_rolls_both_databases_back_and_the_sweep_converges(flow, step, faults):
    state = flow.arrange()
    flow.act(state)
    faults.inject(step, crash=True)
    with pytest.raises(InjectedCrash):
        outbox_relay_due()
    message = OutboxMessage.objects.using(flow.source).get()
    assert (message.status, message.attempts) == ("pending", 0)  # the crash recorded nothing
    assert not flow.effect_done(state)
    assert effects(flow.target) == []
    assert_converged_exactly_once(flow, state)


@pytest.mark.parametrize("crash", [False, True], ids=["fault", "crash"])
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_failure_after_the_target_commit_is_not_applied_twice(flow, crash, faults):
    state = flow.arrange()
    flow.act(state)
    faults.inject("relay.after_target_commit", crash=crash)
    with pytest.raises(InjectedCrash if crash else InjectedFault):
        outbox_relay_due()
    # The effect and its message id committed in the target; the source still says pending.
    assert flow.effect_done(state)
    assert AppliedMessage.objects.using(flow.target).count() == 1
    assert OutboxMessage.objects.using(flow.source).get().status == "pending"
    assert outbox_relay_due() == {RelayOutcome.ALREADY_APPLIED: 1}
    assert_converged_exactly_once(flow, state)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_repeating_the_flow_after_it_converged_changes_nothing(flow, faults):
    state = flow.arrange()
    flow.act(state)
    relay_until_quiet()
    flow.act(state)  # idempotent service: already in the target state, no second message
    assert_converged_exactly_once(flow, state)
