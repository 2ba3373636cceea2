"""Accept an event: decide its Plan, record the incident (deduplicated by fingerprint), claim the cooldowns,
and enqueue one run, all before anything acts. What the HTTP trigger answers comes from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from shared.adapters.identity import Caller
from shared.errors import StoreError
from shared.decide.events import RAW_LIMIT, Event
from shared.decide.incident import PLAN_GATE, Incident, Recorded, new_incident_id
from shared.run import cooldowns
from shared.decide.plan import Decision, Plan, short_target
from shared.redact import capped_json, scrub
from shared.decide.rules import match
from shared.services import Services
from shared.decide.status import Status, is_final

log = logging.getLogger("responder.intake")

_STATUS_OF = {
    Decision.RUN: Status.ACCEPTED,
    Decision.AWAIT_APPROVAL: Status.AWAITING_APPROVAL,
    Decision.SUPPRESS: Status.SUPPRESSED,
    Decision.ESCALATE: Status.ESCALATED,
    Decision.RECORD_RESOLUTION: Status.SUPPRESSED,
}


@dataclass(frozen=True)
class Acceptance:
    incident_id: str
    status: Status
    plan: str  # the plan's summary
    created: bool  # False: a repeated delivery, answered with what the first delivery recorded
    queued: bool = True  # False: recorded, but the queue was unreachable; the reconciler starts it

    @classmethod
    def of(cls, incident: Incident | Recorded, created: bool, queued: bool = True) -> Acceptance:
        plan = incident.plan if isinstance(incident, Recorded) else incident.plan.summary()
        return cls(incident.id, incident.status, plan, created, queued)

    def body(self) -> dict:
        body = {"incident_id": self.incident_id, "status": self.status, "duplicate": not self.created,
                "plan": self.plan}
        if not self.queued:
            body["queued"] = False
        return body


async def accept_alert(services: Services, event: Event) -> Acceptance:
    # Cooldowns are not read up front: claiming them (after the incident is recorded) is the authoritative
    # check, and an alert storm on a cooling target is the rare case, not the one to make fast.
    plan = match(event, services.rules, services.kinds)
    if plan.decision is Decision.RECORD_RESOLUTION:
        return await _record_resolution(services, event, plan)
    return await accept(services, event, plan)


async def accept(services: Services, event: Event, plan: Plan, caller: Caller | None = None) -> Acceptance:
    """Record the incident (or find the one this event already created) and hand it to the executor."""
    now = services.clock()
    existing = await services.store.recorded(event.fingerprint)  # a retried delivery: one point read
    if existing is not None:
        return _duplicate(existing)
    status, status_reason = _STATUS_OF[plan.decision], plan.reason
    cooling = await _cooling(services, plan) if status is Status.ACCEPTED else None
    if cooling is not None:  # an alert storm on a cooling target: record it suppressed from the start
        status, status_reason = Status.SUPPRESSED, cooling
    waits = status is Status.AWAITING_APPROVAL
    incident = Incident(
        id=new_incident_id(now), source=event.source, fingerprint=event.fingerprint, alert_rule=event.rule_name,
        rule=plan.rule, component=plan.component, environment=plan.environment,
        severity=event.severity, reason=_reason(event), status=status, status_reason=status_reason,
        plan=plan, event=event.summary(), raw=event.recorded_raw, requested_by=str(caller) if caller else None,
        requester_id=caller.id if caller else None,
        approval_expires_at=now + services.settings.approval_ttl if waits else None, started_at=now, updated_at=now,
        gate=PLAN_GATE if waits else None, approval_request=_approval_request(plan) if waits else "",
        approvers_needed=max((step.guards.approvers for step in plan.steps if step.guards.requires_approval),
                             default=1),
        gate_destructive=any(step.destructive for step in plan.steps),
        ended_at=now if is_final(status) else None,
        expected_completion=now + timedelta(seconds=plan.expected_seconds) if plan.steps else None,
    )
    # the first timeline entry is written beside the record, not after it (one round trip less per alert)
    created, _ = await asyncio.gather(
        services.store.create(incident),
        services.store.append(incident.id, "intake", str(incident.status),
                              f"{_reason(event)}; {plan.reason}; plan: {plan.summary()}"
                              + (f"; {cooling}" if cooling else "")))
    if isinstance(created, Recorded):  # two deliveries at once: the other one recorded it
        await services.store.forget_timeline(incident.id)
        return _duplicate(created)
    incident = created

    queued = True
    if incident.status is Status.ACCEPTED:
        outcome = await _claim_and_enqueue(services, incident)
        if outcome == "suppressed":
            incident = await services.store.get(incident.id)
        queued = outcome != "not queued"
    log.info("incident %s %s: %s", incident.id, incident.status, plan.summary(), extra={"incident_id": incident.id})
    return Acceptance.of(incident, created=True, queued=queued)


def _approval_request(plan: Plan) -> str:
    """What approving the plan lets happen, in the words the approver reads."""
    destructive = [step.kind for step in plan.steps if step.destructive]
    text = f"approve to run: {plan.summary()}"
    if destructive:
        text += f"; destructive: {', '.join(destructive)} (the requester may not approve it)"
    return text


def _duplicate(recorded: Recorded) -> Acceptance:
    """A repeated delivery does nothing new. (An incident whose first delivery died before queueing its run is
    started by the reconciler, whatever is delivered again.)"""
    log.info("duplicate delivery of %s", recorded.incident_id, extra={"incident_id": recorded.incident_id})
    return Acceptance.of(recorded, created=False)


async def _cooling(services: Services, plan: Plan) -> str | None:
    """Why the plan is suppressed, if another incident's cooldown already holds one of its targets: read up
    front (one point read each) so that a storm of alerts on a cooling target costs little; claiming the
    cooldowns after the incident is recorded stays the authoritative check."""
    keys = [step.cooldown_key for step in plan.steps if step.guards.cooldown and not step.guards.dry_run]
    held = await asyncio.gather(*(services.guards.cooldown(key) for key in keys))
    for step_key, cooldown in zip(keys, held):
        if cooldown is not None and cooldown.until > services.clock():
            kind, _, target = step_key.partition("|")
            return (f"{kind} on {short_target(target)} is in cooldown until {cooldown.until:%Y-%m-%dT%H:%M:%SZ} "
                    f"(after incident {cooldown.incident_id})")
    return None


async def _claim_and_enqueue(services: Services, incident: Incident) -> str:
    """"queued", "suppressed" (another incident's cooldown holds a target), or "not queued": the incident is
    recorded, so it is answered as accepted and the reconciler starts it once the queue is back (answering 503
    would only make Azure Monitor retry into a duplicate)."""
    if not await cooldowns.claim(services, incident):
        return "suppressed"
    try:
        await services.queue.send(incident.id, "accepted")
    except StoreError as error:
        log.warning("incident %s recorded but not queued: %s", incident.id, error, extra={"incident_id": incident.id})
        with contextlib.suppress(StoreError):
            await services.store.append(incident.id, "intake", "not queued",
                                        f"the run queue was unreachable ({error}); the reconciler starts the "
                                        f"incident once it is back")
        return "not queued"
    return "queued"


async def accept_unprocessable(services: Services, body: bytes, error: BaseException) -> Acceptance:
    """An alert this version cannot process (a bug met on the way): record it, escalated, with its payload, so
    nothing acknowledged is lost and a person acts on it. Retried deliveries of the same payload find the same
    record. Raises StoreError if even that cannot be written (the trigger then answers 503)."""
    now = services.clock()
    reason = (f"the responder could not process this alert automatically ({type(error).__name__}); the payload "
              f"is kept on the incident: act on it by hand, and report the error (its log names the incident)")
    plan = Plan(decision=Decision.ESCALATE, reason=reason)
    text = body.decode("utf-8", errors="replace")
    try:
        raw = capped_json(json.loads(text), RAW_LIMIT)
    except (ValueError, RecursionError):
        raw = scrub(text[:RAW_LIMIT])
    incident = Incident(
        id=new_incident_id(now), source="alert", fingerprint=hashlib.sha256(body).hexdigest()[:32],
        alert_rule="unprocessed alert", reason=reason[:500], status=Status.ESCALATED, status_reason=reason, plan=plan,
        raw=raw, started_at=now, updated_at=now, ended_at=now)
    created = await services.store.create(incident)
    if not isinstance(created, Recorded):
        await services.store.append(incident.id, "intake", "escalated", reason)
    log.error("alert recorded as %s unprocessed: %s", created.id, type(error).__name__,
              extra={"incident_id": created.id})
    return Acceptance.of(created, created=not isinstance(created, Recorded))


async def _record_resolution(services: Services, event: Event, plan: Plan) -> Acceptance:
    """A Resolved alert acts on nothing. It goes on the timeline of the incident its Fired delivery created
    (once, however often it is delivered); with no such incident it gets a record of its own."""
    fired = await services.store.recorded(event.fired_fingerprint)
    if fired is None:
        orphan = plan.model_copy(update={"reason": f"{plan.reason}; no incident here for its Fired alert"})
        return await accept(services, event, orphan)
    if not await services.store.link_fingerprint(event.fingerprint, fired):
        return Acceptance.of(fired, created=False)
    when = f"{event.resolved_at:%Y-%m-%dT%H:%M:%SZ}" if event.resolved_at else "now"
    _, updated = await asyncio.gather(
        services.store.append(fired.id, "alert", "resolved", f"Azure Monitor reports alert {event.rule_name!r} "
                                                             f"resolved at {when}; {plan.reason}"),
        services.store.update(fired.id, lambda incident: _mark_resolved(incident, event)))
    return Acceptance.of(updated, created=True)


def _mark_resolved(incident: Incident, event: Event) -> Incident:
    incident.alert_resolved_at = event.resolved_at or event.fired_at
    if event.fingerprint not in incident.linked_fingerprints:  # removed with the incident (retention)
        incident.linked_fingerprints.append(event.fingerprint)
    return incident


def _reason(event: Event) -> str:
    if event.source == "command":
        return f"{event.rule_name}: {event.description}"[:500]
    severity = f" ({event.severity})" if event.severity else ""
    what = f": {event.description}" if event.description else ""
    return f"alert {event.rule_name!r}{severity} {event.condition.lower()}{what}"[:500]
