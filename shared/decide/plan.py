"""The Plan: what the responder will do about one event, as data.

`match` (rules.py) builds it, `explain` prints it, the incident record stores it, and the executor
runs exactly the stored copy; a dry run renders the same Plan and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class StepKind:
    """What the rules need to know about a responder, without importing it: its stable id, the
    type of its parameters, how long the runbook says it takes, and whether it destroys state."""

    name: str
    params: type[BaseModel]
    expected_seconds: int
    destructive: bool = False
    target_type: str | None = None  # e.g. "Microsoft.Web/sites": `{alert.target}` picks a target of this type
    max_retries: int = 8  # temporary errors tolerated before the step fails
    component: str = "unknown"  # the runbook's component an incident of this kind is about
    api_params: frozenset[str] = frozenset()  # what a command API caller may set; the rest is rules/targets only
    description: str = ""
    holds_target: bool = True  # the step takes the target's lease while it runs (a watch only reads: it does not)
    incident_status: str | None = None  # the incident's status while the step runs (the watch: "watching")

    def is_destructive(self, params: BaseModel) -> bool:
        """Params may narrow it: a selective cache flush is not destructive, a full one is."""
        return bool(getattr(params, "destructive", self.destructive))


class Guards(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    cooldown: timedelta | None = Field(
        default=None, description="After this step runs on a target, suppress it on the same target for this long."
    )
    dry_run: bool = Field(default=False, description="Check and report what the step would do; change nothing.")
    requires_approval: bool = Field(default=False, description="Wait for a Responder.Approver before running.")
    approvers: int = Field(default=1, ge=1, le=3, description="How many different approvers an approval needs.")


class PlannedStep(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    guards: Guards = Field(default_factory=Guards)
    expected_seconds: int = 0
    destructive: bool = False  # e.g. a full cache flush: its approver must not be its requester

    @property
    def cooldown_key(self) -> str:
        return cooldown_key(self.kind, self.target)


class Decision(StrEnum):
    RUN = "run"
    AWAIT_APPROVAL = "await_approval"
    SUPPRESS = "suppress"
    ESCALATE = "escalate"
    RECORD_RESOLUTION = "record_resolution"


class Plan(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    decision: Decision
    reason: str
    rule: str | None = None
    component: str = "unknown"
    environment: str = "unknown"
    steps: tuple[PlannedStep, ...] = ()

    @property
    def dry_run(self) -> bool:
        return bool(self.steps) and all(step.guards.dry_run for step in self.steps)

    @property
    def expected_seconds(self) -> int:
        return sum(step.expected_seconds for step in self.steps)

    def summary(self) -> str:
        if not self.steps:
            return self.reason
        return "; ".join(
            f"{step.kind} on {short_target(step.target)}{' (dry run)' if step.guards.dry_run else ''}"
            for step in self.steps
        )


def cooldown_key(kind: str, target: str) -> str:
    """ARM resource ids are case-insensitive, so the key is too."""
    return f"{kind}|{target.lower()}"


def short_target(target: str) -> str:
    """`/subscriptions/.../sites/app/slots/staging` -> `app/slots/staging`; anything else unchanged."""
    parts = target.strip("/").split("/")
    if len(parts) >= 8 and parts[0].lower() == "subscriptions" and parts[4].lower() == "providers":
        return "/".join(parts[7:])
    return target


@dataclass(frozen=True)
class Retry:
    retries: int  # the step's retry count once this failure is counted
    give_up: bool  # the budget is spent: the step fails now


def after_failure(retries: int, budget: int) -> Retry:
    """A temporary failure of a step that has failed `retries` times before, with `budget` retries allowed:
    it is tried again while the count stays within the budget (budget 2: the third failure ends the step)."""
    return Retry(retries + 1, retries + 1 > budget)
