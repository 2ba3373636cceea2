"""The reconciler: incidents that stopped moving (a lost or dropped message, a crashed instance) are
re-driven, a bounded number of times, then failed with the reason; approvals whose window closed are expired;
closed incidents past the retention are removed. Never leaves one hanging silently.

Each pass reads the open-incident index, so it costs as much as there is open work, however long the history.
An incident is due when its waiting step's follow-up message is (`next_check_at`), or, with none queued, when it
was last written; one that is `RESPONDER_STUCK_AFTER` overdue is re-driven. That bounds what an instance crash
costs: the grace plus the timer's period (1 min + 1 min by default), where the host's own redelivery of a
message held by a dead instance can take 10 minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable

from shared.incidents import Incident
from shared.services import Services
from shared.status import Status

log = logging.getLogger("responder.reconciler")


@dataclass
class Summary:
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


def due_at(incident: Incident) -> datetime:
    """When the incident should next have moved: its queued follow-up, or its last write."""
    if incident.next_check_at is not None and incident.next_check_at > incident.updated_at:
        return incident.next_check_at
    return incident.updated_at


async def reconcile(services: Services) -> Summary:
    """One pass. Each incident is handled on its own: one that cannot be handled is logged, not the end."""
    from shared.commands import expire

    summary, now, grace = Summary(), services.clock(), services.settings.stuck_after
    for incident in await services.store.open():
        waits_for_a_person = incident.status is Status.AWAITING_APPROVAL and incident.approved_at is None
        if waits_for_a_person:
            if incident.approval_expires_at and incident.approval_expires_at < now:
                await _each(incident, expire(services, incident), summary.expired)
            continue
        if now - due_at(incident) > grace:
            await _each(incident, _redrive(services, incident, summary), None)
    return summary


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
    idle = f"no progress in {incident.status} since {due_at(incident):%Y-%m-%dT%H:%M:%SZ}"
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
    summary.redriven.append(incident.id)
