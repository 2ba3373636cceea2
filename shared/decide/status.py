"""The two state machines: an incident's status, and each of its steps' state. Pure.

Each moves only forward: every allowed move is written in one table (ALLOWED, STEP_ALLOWED), and `transition` /
`step_transition` refuse the rest. Re-entering the current state is allowed (a redelivered message repeats a
transition); keeping two runs of one incident from acting twice is the lease's and the step record's ETag's job.
"""

from __future__ import annotations

from enum import StrEnum

from shared.errors import TransitionRefused


class Status(StrEnum):
    ACCEPTED = "accepted"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    VERIFYING = "verifying"
    WATCHING = "watching"  # remediated and verified; the post-rollback watch of error rates is under way
    RESOLVED = "resolved"
    FAILED = "failed"
    ESCALATED = "escalated"
    SUPPRESSED = "suppressed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


FINAL = frozenset(
    {Status.RESOLVED, Status.FAILED, Status.ESCALATED, Status.SUPPRESSED, Status.REJECTED, Status.CANCELLED}
)

# A plan may stop for a person mid-way (a database restore asks again before switching over): RUNNING ->
# AWAITING_APPROVAL -> RUNNING. The post-rollback watch runs after the remediation verified: -> WATCHING.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.ACCEPTED: frozenset(
        {Status.RUNNING, Status.AWAITING_APPROVAL, Status.SUPPRESSED, Status.FAILED, Status.ESCALATED,
         Status.CANCELLED}
    ),
    # SUPPRESSED: approved, but by then another incident acted on the target (its cooldown holds)
    Status.AWAITING_APPROVAL: frozenset({Status.RUNNING, Status.REJECTED, Status.CANCELLED, Status.FAILED,
                                         Status.SUPPRESSED}),
    Status.RUNNING: frozenset(
        {Status.VERIFYING, Status.WATCHING, Status.AWAITING_APPROVAL, Status.RESOLVED, Status.FAILED,
         Status.ESCALATED, Status.CANCELLED}
    ),
    Status.VERIFYING: frozenset({Status.WATCHING, Status.AWAITING_APPROVAL, Status.RESOLVED, Status.FAILED,
                                 Status.ESCALATED}),
    Status.WATCHING: frozenset({Status.RESOLVED, Status.FAILED, Status.ESCALATED, Status.CANCELLED}),
    **{final: frozenset() for final in FINAL},
}


def transition(current: Status | str, wanted: Status | str) -> Status:
    """The new status, or TransitionRefused if the move is not in ALLOWED."""
    current, wanted = Status(current), Status(wanted)
    if wanted == current or wanted in ALLOWED[current]:
        return wanted
    raise TransitionRefused("an incident", current, wanted, list(ALLOWED[current]))


def is_final(status: Status | str) -> bool:
    return Status(status) in FINAL


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for something under way (a swap Azure accepted, a health window): no retry used
    DELAYED = "delayed"  # after a temporary error, within the step's retry budget
    DONE = "done"
    SKIPPED = "skipped"  # nothing needed changing (or a dry run): recorded with the reason
    FAILED = "failed"
    ESCALATED = "escalated"
    NOT_RUN = "not_run"  # an earlier step failed (or the incident was cancelled) before this one started


class StepPhase(StrEnum):
    PRECHECK = "precheck"
    EXECUTE = "execute"
    VERIFY = "verify"
    FINISHED = "finished"


STEP_FINISHED = frozenset({StepState.DONE, StepState.SKIPPED})
STEP_ENDED = STEP_FINISHED | {StepState.FAILED, StepState.ESCALATED, StepState.NOT_RUN}
_UNDER_WAY = (StepState.RUNNING, StepState.WAITING, StepState.DELAYED)
STEP_ALLOWED: dict[StepState, frozenset[StepState]] = {
    StepState.PENDING: frozenset({StepState.RUNNING, StepState.NOT_RUN}),
    **{state: frozenset({*_UNDER_WAY, *STEP_ENDED} - {state, StepState.NOT_RUN}) for state in _UNDER_WAY},
    **{ended: frozenset() for ended in STEP_ENDED},
}


def step_transition(current: StepState | str, wanted: StepState | str) -> StepState:
    """The step's new state, or TransitionRefused if the move is not in STEP_ALLOWED."""
    current, wanted = StepState(current), StepState(wanted)
    if wanted == current or wanted in STEP_ALLOWED[current]:
        return wanted
    raise TransitionRefused("a step", current, wanted, list(STEP_ALLOWED[current]))
