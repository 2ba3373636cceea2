"""The reconciler: incidents that stopped moving (a lost or dropped message, a crashed instance) are
re-driven, a bounded number of times, then failed with the reason. Never leaves one hanging silently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from shared.services import Services
from shared.status import Status

log = logging.getLogger("responder.reconciler")


@dataclass
class Summary:
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


async def reconcile(services: Services) -> Summary:
    settings, store, summary = services.settings, services.store, Summary()
    from shared.commands import expire

    for incident in await store.expired_approvals(services.clock()):
        await expire(services, incident)
        summary.expired.append(incident.id)
    cutoff = services.clock() - settings.stuck_after
    for incident in await store.open_incidents(older_than=cutoff):
        if incident.status is Status.AWAITING_APPROVAL and incident.approved_at is None:
            continue  # waits for a person, not for a message
        idle = f"no progress in {incident.status} since {incident.updated_at:%Y-%m-%dT%H:%M:%SZ}"
        if incident.redrives >= settings.max_redrives:
            reason = f"stuck: {idle}, after {incident.redrives} re-drives; a person must look at it"
            await store.append(incident.id, "reconciler", "failed", reason)
            await store.move(incident.id, Status.FAILED, reason)
            summary.failed.append(incident.id)
            continue
        await store.update(incident.id, lambda current: current.model_copy(update={"redrives": current.redrives + 1}))
        await store.append(incident.id, "reconciler", "re-driven",
                           f"{idle}; re-driven ({incident.redrives + 1}/{settings.max_redrives})")
        await services.queue.send(incident.id, "reconciler re-drive")
        summary.redriven.append(incident.id)
    return summary
