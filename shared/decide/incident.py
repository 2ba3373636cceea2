"""The incident record and its parts, as the rest of the app sees them (the store maps them to Table entities).
Pure: no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.decide.plan import Plan
from shared.decide.status import STEP_FINISHED, Status, StepPhase, StepState


def new_incident_id(now: datetime) -> str:
    """`inc-20261125-031502123-4f3a9c`: readable, sortable, and its table row key can be derived from it."""
    return f"inc-{now:%Y%m%d-%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


PLAN_GATE = "plan"  # the approval a plan waits for before anything runs (mid-plan gates are "<step>:<name>")


class Approval(BaseModel):
    """One person's approval of one gate."""

    gate: str
    by: str  # who, as a person reads it
    by_id: str  # the canonical caller id (compared for self-approval and for a second approver)
    at: datetime
    comment: str = ""


class Incident(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    id: str
    source: str
    fingerprint: str
    alert_rule: str
    rule: str | None = None
    component: str = "unknown"
    environment: str = "unknown"
    severity: str | None = None
    reason: str
    status: Status
    status_reason: str = ""
    plan: Plan
    event: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = None
    requested_by: str | None = None
    requester_id: str | None = None
    approval_expires_at: datetime | None = None
    approved_by: str | None = None  # the approvers of the gate awaited last, once it has all it needs
    approved_at: datetime | None = None  # when the gate awaited last had all its approvals (None: still waiting)
    gate: str | None = None  # the approval awaited (or last awaited): PLAN_GATE, or "<step index>:<name>"
    approval_request: str = ""  # what approving lets happen, and what is lost
    approvers_needed: int = 1
    gate_destructive: bool = False  # the requester may not approve it
    approvals: list[Approval] = Field(default_factory=list)
    passed_gates: list[str] = Field(default_factory=list)
    moments: list[str] = Field(default_factory=list)  # lifecycle moments recorded for announcing (the outbox)
    announced: list[str] = Field(default_factory=list)  # of those, the ones every subscriber has handled
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    expected_completion: datetime | None = None
    alert_resolved_at: datetime | None = None
    next_check_at: datetime | None = None  # when a waiting step's delayed message is due (for the reconciler)
    redrives: int = 0
    linked_fingerprints: list[str] = Field(default_factory=list)  # later events recorded on it (Resolved)
    etag: str | None = Field(default=None, exclude=True)

    @property
    def awaited_gate(self) -> str:
        return self.gate or PLAN_GATE

    def approvals_of(self, gate: str) -> list[Approval]:
        return [approval for approval in self.approvals if approval.gate == gate]

    @property
    def pending_moments(self) -> list[str]:
        return [moment for moment in self.moments if moment not in self.announced]

    @property
    def due_at(self) -> datetime:
        """When the incident should next have moved: its queued follow-up, or else its last write."""
        if self.next_check_at is not None and self.next_check_at > self.updated_at:
            return self.next_check_at
        return self.updated_at

    def public(self) -> dict[str, Any]:
        """The JSON the API returns (the raw payload is left to the detail view)."""
        return self.model_dump(mode="json", exclude={"raw"})


class OpenIncident(BaseModel):
    """An open incident as the index holds it: enough to judge whether it needs the reconciler."""

    model_config = ConfigDict(extra="ignore")

    incident_id: str
    status: Status
    due: datetime
    approval_expires_at: datetime | None = None
    approved: bool = False
    announce: bool = False  # lifecycle moments wait to be announced (a final incident stays indexed until then)

    @classmethod
    def of(cls, incident: Incident) -> OpenIncident:
        return cls(incident_id=incident.id, status=incident.status, due=incident.due_at,
                   approval_expires_at=incident.approval_expires_at, approved=incident.approved_at is not None,
                   announce=bool(incident.pending_moments))


@dataclass(frozen=True)
class Recorded:
    """What a fingerprint row says of the incident its event created: enough to answer a repeated delivery
    without reading the incident (its status as it was first recorded; GET /api/incidents/{id} has it now)."""

    incident_id: str
    status: Status
    plan: str

    @property
    def id(self) -> str:
        return self.incident_id


class TimelineEntry(BaseModel):
    time: datetime
    step: str
    outcome: str
    detail: str = ""
    duration_ms: int | None = None


class StepProgress(BaseModel):
    """A fixed-shape record of one plan step: where it is, what it found, how often it was retried."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    index: int
    kind: str
    target: str
    state: StepState = StepState.PENDING
    phase: StepPhase = StepPhase.PRECHECK
    started_at: datetime | None = None
    ended_at: datetime | None = None
    delayed_until: datetime | None = None
    retries: int = 0
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    etag: str | None = Field(default=None, exclude=True)

    @property
    def finished(self) -> bool:
        return self.state in STEP_FINISHED
