"""The incident state machine: forward only, final states stay final. Pure."""

from __future__ import annotations

import pytest

from shared.decide.status import ALLOWED, FINAL, Status, is_final, transition
from shared.errors import TransitionRefused


@pytest.mark.parametrize(("current", "wanted"), [
    ("accepted", "running"), ("running", "verifying"), ("verifying", "resolved"), ("accepted", "suppressed"),
    ("accepted", "awaiting_approval"), ("awaiting_approval", "running"), ("awaiting_approval", "rejected"),
    ("running", "escalated"), ("running", "failed"), ("verifying", "escalated"), ("running", "resolved"),
    ("running", "awaiting_approval"), ("verifying", "awaiting_approval"), ("verifying", "watching"), ("running", "watching"), ("watching", "resolved"),
    ("watching", "escalated"), ("watching", "cancelled"),
])
def test_forward_moves_are_allowed(current, wanted):
    assert transition(current, wanted) == Status(wanted)


@pytest.mark.parametrize(("current", "wanted"), [
    ("resolved", "running"), ("failed", "accepted"), ("escalated", "resolved"), ("verifying", "running"),
    ("running", "accepted"), ("suppressed", "running"), ("watching", "running"), ("watching", "verifying"),
    ("cancelled", "running"), ("watching", "awaiting_approval"),
])
def test_backward_moves_and_moves_out_of_final_states_are_refused(current, wanted):
    with pytest.raises(TransitionRefused) as caught:
        transition(current, wanted)
    assert f"cannot move an incident from {current} to {wanted}" in str(caught.value)


def test_repeating_the_current_status_is_a_no_op():
    for status in Status:
        assert transition(status, status) is status


def _reachable(start, table) -> set:
    seen, frontier = {start}, [start]
    while frontier:
        for nxt in table[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def test_every_incident_status_is_reachable_and_can_still_end():
    """No status the table cannot reach, and none from which an incident can never end (a dead end would leave
    it open for ever, with the reconciler re-driving it)."""
    assert _reachable(Status.ACCEPTED, ALLOWED) == set(Status)
    for status in set(Status) - FINAL:
        assert _reachable(status, ALLOWED) & FINAL, f"{status} can never end"
    assert not any(Status.ACCEPTED in ALLOWED[status] for status in Status)  # nothing goes back to the start


def test_every_step_state_is_reachable_and_ends():
    from shared.decide.status import STEP_ALLOWED, STEP_ENDED, StepState

    assert _reachable(StepState.PENDING, STEP_ALLOWED) == set(StepState)
    for state in set(StepState) - STEP_ENDED:
        assert _reachable(state, STEP_ALLOWED) & STEP_ENDED, f"{state} can never end"
    assert not any(StepState.PENDING in STEP_ALLOWED[state] for state in StepState)


def test_a_step_moves_forward_only():
    from shared.decide.status import StepState, step_transition

    assert step_transition("waiting", "running") is StepState.RUNNING
    assert step_transition("delayed", "failed") is StepState.FAILED
    assert step_transition("pending", "not_run") is StepState.NOT_RUN  # a later step after a failed one
    for ended, wanted in (("done", "running"), ("skipped", "running"), ("failed", "running"),
                          ("escalated", "waiting"), ("running", "pending"), ("pending", "done"),
                          ("running", "not_run"), ("not_run", "running"), ("waiting", "not_run")):
        with pytest.raises(TransitionRefused, match=f"cannot move a step from {ended} to {wanted}"):
            step_transition(ended, wanted)


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        transition("accepted", "half-done")
