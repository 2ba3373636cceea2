"""The reconciler: incidents that stopped moving (a lost or dropped message, a crashed instance) are
re-driven, a bounded number of times, then failed with the reason. Never leaves one hanging silently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
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


ACCEPTED_STUCK_AFTER = timedelta(minutes=2)  # an accepted (or approved) incident normally starts within a second


async def reconcile(services: Services) -> Summary:
    """One pass. Each incident is handled on its own: one that cannot be handled is logged, not the end."""
    from shared.commands import expire

    summary, now = Summary(), services.clock()
    for incident in await services.store.expired_approvals(now):
        await _each(incident, expire(services, incident), summary.expired)
    settings = services.settings
    for incident in await services.store.open_incidents(older_than=now - min(settings.stuck_after,
                                                                                ACCEPTED_STUCK_AFTER)):
        if incident.status is Status.AWAITING_APPROVAL and incident.approved_at is None:
            continue  # waits for a person, not for a message
        waiting_to_start = incident.status in (Status.ACCEPTED, Status.AWAITING_APPROVAL)  # approved, not started
        if not waiting_to_start and incident.updated_at > now - settings.stuck_after:
            continue
        await _each(incident, _redrive(services, incident, summary), None)
    return summary


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
    idle = f"no progress in {incident.status} since {incident.updated_at:%Y-%m-%dT%H:%M:%SZ}"
    if incident.redrives >= settings.max_redrives:
        reason = f"stuck: {idle}, after {incident.redrives} re-drives; a person must look at it"
        await store.append(incident.id, "reconciler", "failed", reason)
        await store.move(incident.id, Status.FAILED, reason)
        summary.failed.append(incident.id)
        return
    await store.update(incident.id, lambda current: current.model_copy(update={"redrives": current.redrives + 1}))
    await store.append(incident.id, "reconciler", "re-driven",
                       f"{idle}; re-driven ({incident.redrives + 1}/{settings.max_redrives})")
    await services.queue.send(incident.id, "reconciler re-drive")
    summary.redriven.append(incident.id)
