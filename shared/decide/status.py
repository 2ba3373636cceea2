"""Incident status and the one table of transitions it may take.

An incident only moves forward: every allowed move is written in ALLOWED, and `transition`
refuses the rest. Re-entering the current status is allowed (a redelivered message repeats a
transition); keeping two runs of one incident from acting twice is the executor's lease's job.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACCEPTED = "accepted"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    FAILED = "failed"
    ESCALATED = "escalated"
    SUPPRESSED = "suppressed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


FINAL = frozenset(
    {Status.RESOLVED, Status.FAILED, Status.ESCALATED, Status.SUPPRESSED, Status.REJECTED, Status.CANCELLED}
)

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.ACCEPTED: frozenset(
        {Status.RUNNING, Status.AWAITING_APPROVAL, Status.SUPPRESSED, Status.FAILED, Status.ESCALATED,
         Status.CANCELLED}
    ),
    # SUPPRESSED: approved, but by then another incident acted on the target (its cooldown holds)
    Status.AWAITING_APPROVAL: frozenset({Status.RUNNING, Status.REJECTED, Status.CANCELLED, Status.FAILED,
                                         Status.SUPPRESSED}),
    Status.RUNNING: frozenset(
        {Status.VERIFYING, Status.RESOLVED, Status.FAILED, Status.ESCALATED, Status.CANCELLED}
    ),
    Status.VERIFYING: frozenset({Status.RESOLVED, Status.FAILED, Status.ESCALATED}),
    **{final: frozenset() for final in FINAL},
}


class TransitionRefused(ValueError):
    """A status change the state machine does not allow (e.g. resolved -> running)."""

    def __init__(self, current: Status, wanted: Status):
        self.current, self.wanted = current, wanted
        allowed = ", ".join(sorted(ALLOWED[current])) or "none: it is final"
        super().__init__(f"cannot move an incident from {current} to {wanted} (allowed from {current}: {allowed})")


def transition(current: Status | str, wanted: Status | str) -> Status:
    """Return the new status, or raise TransitionRefused if the move is not in ALLOWED."""
    current, wanted = Status(current), Status(wanted)
    if wanted == current or wanted in ALLOWED[current]:
        return wanted
    raise TransitionRefused(current, wanted)


def is_final(status: Status | str) -> bool:
    return Status(status) in FINAL
