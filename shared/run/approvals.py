"""Approve, reject or cancel an incident, or expire an approval that never came: each a move through the
incident's state machine, recorded on its timeline. Whether a caller may approve is shared/decide/commands.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.decide.callers import Caller
from shared.decide.commands import approval_refusal
from shared.decide.incident import PLAN_GATE, Approval, Incident
from shared.decide.status import Status, is_final, transition
from shared.errors import IncidentNotFound, RequestRefused, TransitionRefused

if TYPE_CHECKING:
    from shared.services import Services


async def _incident(services: Services, incident_id: str) -> Incident:
    try:
        return await services.store.get(incident_id)
    except IncidentNotFound as error:
        raise RequestRefused(404, "not_found", str(error)) from None


async def approve(services: Services, incident_id: str, caller: Caller, comment: str) -> Incident:
    incident, now = await _incident(services, incident_id), services.clock()
    refusal = approval_refusal(incident, caller, now)
    if refusal is not None:
        if refusal.code == "approval_expired":
            await expire(services, incident)
        raise refusal

    def mark(current: Incident) -> Incident:
        refused = approval_refusal(current, caller, now)  # someone else may have approved meanwhile
        if refused is not None:
            raise refused
        gate = current.awaited_gate
        current.approvals.append(Approval(gate=gate, by=str(caller), by_id=caller.id, at=now, comment=comment[:500]))
        given = current.approvals_of(gate)
        if len(given) >= current.approvers_needed:  # complete: the plan goes on
            current.approved_by, current.approved_at = "; ".join(approval.by for approval in given), now
            if gate not in current.passed_gates:
                current.passed_gates.append(gate)
        return current

    incident = await services.store.update(incident_id, mark)
    given = len(incident.approvals_of(incident.awaited_gate))
    if incident.approved_at is None:
        await services.store.append(incident_id, "approval", "approved",
                                    f"by {caller}{_comment(comment)} ({given} of {incident.approvers_needed}; "
                                    f"waiting for another approver)")
        return incident
    count = f" ({given} of {incident.approvers_needed})" if incident.approvers_needed > 1 else ""
    await services.store.append(incident_id, "approval", "approved", f"by {caller}{_comment(comment)}{count}")
    await services.queue.send(incident_id, "approved")
    return incident


async def reject(services: Services, incident_id: str, caller: Caller, comment: str) -> Incident:
    incident = await _incident(services, incident_id)
    if incident.status is not Status.AWAITING_APPROVAL:
        raise RequestRefused(409, "conflict", f"incident {incident.id} is {incident.status}, not awaiting approval")
    reason = f"rejected by {caller}{_comment(comment)}"
    incident = await _move(services, incident_id, Status.REJECTED, reason)
    await services.store.append(incident_id, "approval", "rejected", reason)
    return incident


async def cancel(services: Services, incident_id: str, caller: Caller, comment: str) -> Incident:
    incident = await _incident(services, incident_id)
    if is_final(incident.status):
        raise RequestRefused(409, "conflict", f"incident {incident.id} is already {incident.status}")
    reason = f"cancelled by {caller}{_comment(comment)}"
    if incident.status is Status.RUNNING:
        reason += "; the step under way finishes, no further step starts"
    incident = await _move(services, incident_id, Status.CANCELLED, reason)
    await services.store.append(incident_id, "operator", "cancelled", reason)
    return incident


async def expire(services: Services, incident: Incident) -> None:
    """Cancel an incident whose approval window closed, unless an approval landed meanwhile."""
    reason = f"approval window closed at {incident.approval_expires_at:%Y-%m-%dT%H:%M:%SZ} with no approval; "
    if incident.awaited_gate == PLAN_GATE:
        reason += "nothing was done"
    else:  # a mid-plan gate: what ran before it stands
        reason += "the steps before it stand (see the timeline); nothing further was done"
    now = services.clock()

    def cancel_unless_approved(current: Incident) -> Incident | None:
        if current.status is not Status.AWAITING_APPROVAL or current.approved_at is not None:
            return None
        current.status = transition(current.status, Status.CANCELLED)
        current.status_reason, current.ended_at = reason, now
        return current

    updated = await services.store.update(incident.id, cancel_unless_approved)
    if updated.status is Status.CANCELLED and updated.status_reason == reason:
        await services.store.append(incident.id, "approval", "expired", reason)


async def _move(services: Services, incident_id: str, status: Status, reason: str) -> Incident:
    try:
        return await services.store.move(incident_id, status, reason)
    except TransitionRefused as error:
        raise RequestRefused(409, "conflict", str(error)) from None


def _comment(comment: str) -> str:
    return f": {comment}" if comment else ""
