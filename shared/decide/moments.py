"""Lifecycle moments: the points in an incident's life that people are told about (a notice, the root-cause
issue, "what changed"). Pure.

A moment is recorded on the incident in the same write as the status change that makes it (the incident is
its own outbox), so a crash between the change and the announcement loses nothing: the announcement job is
sent after the write, and the reconciler sends it again for an incident whose moments wait too long.

    acting                       the plan starts to change things (first move to running)
    awaiting_approval:<gate>     the plan waits for a person: "plan" before anything runs, "<step>:<name>" mid-way
    watching                     the rollback verified; the post-rollback watch is under way
    resolved | failed | escalated | suppressed | rejected | cancelled      the incident ended so
"""

from __future__ import annotations

from shared.decide.status import Status, is_final

ACTING = "acting"
WATCHING = "watching"
AWAITING_APPROVAL = "awaiting_approval"


def moment_of(before: Status | None, after: Status, gate: str | None = None) -> str | None:
    """The moment a status change makes, or None. `before` None: the incident is being created."""
    if after == before:
        return None
    if after is Status.RUNNING:
        return ACTING if before in (None, Status.ACCEPTED, Status.AWAITING_APPROVAL) else None
    if after is Status.AWAITING_APPROVAL:
        return f"{AWAITING_APPROVAL}:{gate or 'plan'}"
    if after is Status.WATCHING:
        return WATCHING
    if is_final(after):
        return str(after)
    return None


def kind_of(moment: str) -> str:
    """`awaiting_approval:0:switch-over` -> `awaiting_approval`; the others are their own kind."""
    return moment.split(":", 1)[0]
