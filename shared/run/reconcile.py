"""The reconciler: incidents that stopped moving (a lost or dropped message, a crashed instance) are
re-driven, a bounded number of times, then failed with the reason; approvals whose window closed are expired;
closed incidents past the retention are removed. Never leaves one hanging silently.

Each pass reads the open-incident index (and an incident only to act on it), so it costs as much as there is
open work, however long the history. An incident is due when its waiting step's follow-up message is
(`next_check_at`), or, with none queued, when it was last written; one that is `RESPONDER_STUCK_AFTER` overdue is
re-driven. That bounds what an instance crash
costs: the grace plus the timer's period (1 min + 1 min by default), where the host's own redelivery of a
message held by a dead instance can take 10 minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable

from shared.decide.incident import Incident, OpenIncident
from shared.services import Services
from shared.decide.status import Status, is_final

log = logging.getLogger("responder.reconciler")


@dataclass
class Summary:
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)


def needs(entry: OpenIncident | Incident, now: datetime, grace: timedelta) -> str | None:
    """What an indexed incident needs from the reconciler: "expire" (its approval window closed), "redrive" (it is
    `grace` overdue), "announce" (it ended, or waits for a person, and its moments are overdue), or None. Pure;
    judged on the index row first, then again on the incident itself. A re-drive also asks for the overdue
    announcements."""
    approved = entry.approved if isinstance(entry, OpenIncident) else entry.approved_at is not None
    due = entry.due if isinstance(entry, OpenIncident) else entry.due_at
    announce = entry.announce if isinstance(entry, OpenIncident) else bool(entry.pending_moments)
    overdue = now - due > grace
    if is_final(entry.status):  # indexed only for its moments
        return "announce" if announce and overdue else None
    if entry.status is Status.AWAITING_APPROVAL and not approved:  # waits for a person, not for a message
        if entry.approval_expires_at and entry.approval_expires_at < now:
            return "expire"
        return "announce" if announce and overdue else None
    return "redrive" if overdue else None


async def reconcile(services: Services) -> Summary:
    """One pass. Each incident is handled on its own: one that cannot be handled is logged, not the end."""
    from shared.run.approvals import expire

    summary, now, grace = Summary(), services.clock(), services.settings.stuck_after
    for entry in await services.store.open():
        if needs(entry, now, grace) is None:
            continue
        incident = await services.store.refresh(entry)
        action = needs(incident, now, grace) if incident is not None else None
        if action == "expire":
            await _each(incident, expire(services, incident), summary.expired)
        elif action == "redrive":
            await _each(incident, _redrive(services, incident, summary), None)
        elif action == "announce":
            await _each(incident, _announce(services, incident), summary.announced)
    return summary


async def _announce(services: Services, incident: Incident) -> None:
    from shared.run import moments

    now = services.clock()
    await services.store.update(incident.id, lambda current: current.model_copy(update={"next_check_at": now}))
    await moments.request(services, incident.id)


async def remove_expired(services: Services) -> int:
    """Retention: delete closed incidents older than RESPONDER_RETENTION (a bounded number per pass)."""
    retention = services.settings.retention
    if retention is None:
        return 0
    return await services.store.remove_closed_before(services.clock() - retention)


async def _each(incident: Incident, work: Awaitable[Any], done: list[str] | None) -> None:
    try:
        await work
    except Exception:
        log.exception("reconciler could not handle %s", incident.id, extra={"incident_id": incident.id})
        return
    if done is not None:
        done.append(incident.id)


async def _redrive(services: Services, incident: Incident, summary: Summary) -> None:
    settings, store = services.settings, services.store
    idle = f"no progress in {incident.status} since {incident.due_at:%Y-%m-%dT%H:%M:%SZ}"
    if incident.redrives >= settings.max_redrives:
        reason = f"stuck: {idle}, after {incident.redrives} re-drives; a person must look at it"
        await store.append(incident.id, "reconciler", "failed", reason)
        await store.move(incident.id, Status.FAILED, reason)
        summary.failed.append(incident.id)
        return
    now = services.clock()
    await store.update(incident.id, lambda current: current.model_copy(
        update={"redrives": current.redrives + 1, "next_check_at": now}))
    await store.append(incident.id, "reconciler", "re-driven",
                       f"{idle}; re-driven ({incident.redrives + 1}/{settings.max_redrives})")
    await services.queue.send(incident.id, "reconciler re-drive")
    if incident.pending_moments:
        from shared.run import moments

        await moments.request(services, incident.id)
    summary.redriven.append(incident.id)
