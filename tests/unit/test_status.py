"""The incident state machine: forward only, final states stay final. Pure."""

from __future__ import annotations

import pytest

from shared.decide.status import ALLOWED, FINAL, Status, is_final, transition
from shared.errors import TransitionRefused


@pytest.mark.parametrize(("current", "wanted"), [
    ("accepted", "running"), ("running", "verifying"), ("verifying", "resolved"), ("accepted", "suppressed"),
    ("accepted", "awaiting_approval"), ("awaiting_approval", "running"), ("awaiting_approval", "rejected"),
    ("running", "escalated"), ("running", "failed"), ("verifying", "escalated"), ("running", "resolved"),
])
def test_forward_moves_are_allowed(current, wanted):
    assert transition(current, wanted) == Status(wanted)


@pytest.mark.parametrize(("current", "wanted"), [
    ("resolved", "running"), ("failed", "accepted"), ("escalated", "resolved"), ("verifying", "running"),
    ("running", "accepted"), ("suppressed", "running"), ("running", "awaiting_approval"),
    ("cancelled", "running"), ("verifying", "awaiting_approval"),
])
def test_backward_moves_and_moves_out_of_final_states_are_refused(current, wanted):
    with pytest.raises(TransitionRefused) as caught:
        transition(current, wanted)
    assert f"cannot move an incident from {current} to {wanted}" in str(caught.value)


def test_repeating_the_current_status_is_a_no_op():
    for status in Status:
        assert transition(status, status) is status


def test_every_status_has_a_row_and_final_ones_lead_nowhere():
    assert set(ALLOWED) == set(Status)
    assert all(ALLOWED[status] == frozenset() for status in FINAL)
    assert all(is_final(status) == (status in FINAL) for status in Status)


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        transition("accepted", "half-done")
