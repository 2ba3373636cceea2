"""The command API's decisions, pure: a requested action becomes an Event and a Plan, and whether a caller may
approve an incident. Approving, rejecting and cancelling it (with the store) is shared/run/approvals.py."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.decide.callers import Caller, same_person
from shared.errors import RequestRefused
from shared.decide.events import ID_LIMIT, Event
from shared.decide.incident import PLAN_GATE, Incident
from shared.decide.plan import Plan, StepKind
from shared.decide.rules import GuardSpec, RuleSet, canonical_target, guarded_plan, planned_step
from shared.decide.status import Status, is_final
from shared.errors import TransitionRefused

class ActionRequest(BaseModel):
    """POST /api/actions"""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    action: str = Field(min_length=1, max_length=64,
                        description="A responder id: swap_back, flush_cache, restart, ...")
    target: str = Field(min_length=1, max_length=ID_LIMIT, description="The Azure resource id to act on.")
    params: dict[str, Any] = Field(default_factory=dict, description="The responder's parameters.")
    reason: str = Field(min_length=3, max_length=500, description="Why: goes on the incident record.")
    dry_run: bool = Field(default=False, description="Check and report what would be done; change nothing.")


class Decision(BaseModel):
    """POST /api/incidents/{id}/approve | reject | cancel"""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    comment: str = Field(default="", max_length=500)


def read(model: type[BaseModel], body: Any) -> Any:
    """Validate a request body; 422 naming each wrong field."""
    if body is None:
        body = {}
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, item['loc'])) or 'body'}: "
                    f"{'required' if item['type'] == 'missing' else item['msg']}" for item in error.errors()]
        raise RequestRefused(422, "invalid_request", "; ".join(problems), problems) from None


def plan_for(request: ActionRequest, kinds: Mapping[str, StepKind], ruleset: RuleSet) -> Plan:
    """The Plan of one requested action, with the same guards a rule would give it. 422 if it cannot be.

    A caller chooses only the parameters the kind lets the API set (`api_params`: what to do, such as the
    patterns to flush); where to connect, which secret to use and the safety windows come from the rules
    file's `targets` section and the kind's defaults, never from a request."""
    kind = kinds.get(request.action)
    if kind is None:
        raise RequestRefused(422, "invalid_request", f"unknown action {request.action!r} "
                                                     f"(known: {', '.join(sorted(kinds))})", ["action: unknown"])
    try:
        target = canonical_target(kind, request.target)
    except ValueError as error:
        raise RequestRefused(422, "invalid_request", str(error), ["target: wrong resource type"]) from None
    refused = sorted(set(request.params) - kind.api_params)
    if refused:
        allowed = ", ".join(sorted(kind.api_params)) or "none"
        problems = [f"params.{name}: not settable through the API (the rules file's targets section sets it)"
                    for name in refused]
        raise RequestRefused(422, "invalid_request", f"{'; '.join(problems)}; {request.action} accepts: {allowed}",
                             problems)
    params = ruleset.target_params(kind.name, target) | request.params
    try:
        step = planned_step(kind, target, params, GuardSpec(dry_run=request.dry_run), ruleset.defaults.cooldown)
    except ValidationError as error:
        problems = [f"params.{'.'.join(map(str, item['loc'])) or request.action}: "
                    f"{'required' if item['type'] == 'missing' else item['msg']}" for item in error.errors()]
        raise RequestRefused(422, "invalid_request", "; ".join(problems), problems) from None
    return guarded_plan(None, kind.component, "production", [step], reason="requested through the command API")


def event_for(request: ActionRequest, caller: Caller, idempotency_key: str | None, now: datetime) -> Event:
    """With an Idempotency-Key, a retried request finds the incident the first one created."""
    if idempotency_key:
        request_id = hashlib.sha256(f"{caller.id}|{idempotency_key}".encode()).hexdigest()
    else:
        request_id = uuid.uuid4().hex
    return Event(source="command", schema_name="command", rule_name=f"{request.action} requested by {caller.name}",
                 alert_id=f"command:{request_id}", target_ids=(request.target,), fired_at=now,
                 description=request.reason)


def approval_refusal(incident: Incident, caller: Caller, now: datetime) -> RequestRefused | None:
    """Why `caller` may not approve the gate `incident` waits at now, or None. `approval_expired` asks the caller
    to expire it. A gate that needs two approvers needs two different people; a destructive one (or one whose
    plan destroys state) is never approved by its requester."""
    if incident.status is not Status.AWAITING_APPROVAL:
        return RequestRefused(409, "conflict", f"incident {incident.id} is {incident.status}, not awaiting approval")
    if incident.approved_at is not None:
        return RequestRefused(409, "conflict", f"incident {incident.id} was already approved by {incident.approved_by}")
    if incident.approval_expires_at and now > incident.approval_expires_at:
        return RequestRefused(409, "approval_expired", f"the approval window of {incident.id} closed at "
                                                       f"{incident.approval_expires_at:%Y-%m-%dT%H:%M:%SZ}; it is "
                                                       f"cancelled: request the action again")
    gate = incident.awaited_gate
    if any(approval.by_id == caller.id for approval in incident.approvals_of(gate)):
        return RequestRefused(409, "already_approved", f"{caller.name} has already approved this; it needs "
                                                       f"{incident.approvers_needed} different approvers")
    if gate == PLAN_GATE:
        destructive = [step.kind for step in incident.plan.steps if step.destructive]
    else:
        destructive = [gate] if incident.gate_destructive else []
    if destructive and same_person(incident.requester_id, caller):
        return RequestRefused(403, "self_approval", f"{caller.name} requested this destructive action "
                                                    f"({', '.join(destructive)}); another approver must approve it")
    return None
