"""Announce an incident's lifecycle moments (shared/decide/moments.py) to what subscribes to them: the team's
notices, the root-cause issue, "what changed". Runs as a side job on the run queue, never inside the incident's
own run: a subscriber that fails or waits never fails, delays or holds up the rollback.

A subscriber is an object with
    name                               its id on the timeline
    wants(services, moment) -> bool    pure: does it announce this moment (the rules say)? No I/O.
    handle(services, incident, moment) announce it; idempotent (a job can run twice: a crash, a redelivery), so
                                       it records what it did before and after any side effect. Raise Waiting
                                       (delay) to be called again later (a 429's Retry-After); anything else is
                                       recorded on the timeline as its failure and the moment counts as handled.

A moment is marked announced once every subscriber that wants it has handled it; until then the incident keeps
its open-index row, so the reconciler asks again for one whose job was lost.
"""

from __future__ import annotations

import logging
import math
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.decide.incident import Incident
from shared.errors import IncidentNotFound, LeaseHeld, StoreError, Waiting

if TYPE_CHECKING:
    from shared.services import Services

log = logging.getLogger("responder.moments")
JOB = "moments"
_LEASE = timedelta(minutes=2)  # longer than a job takes (each subscriber bounds its own calls); a crash frees it


class Subscriber(Protocol):
    name: str

    def wants(self, services: Services, moment: str) -> bool: ...

    async def handle(self, services: Services, incident: Incident, moment: str) -> None: ...


async def request(services: Services, incident_id: str, delay: float = 0) -> None:
    await services.queue.send(incident_id, "announce", delay_seconds=delay, job=JOB)


async def announce(services: Services, incident_id: str) -> str:
    """Handle every moment of the incident that waits to be announced. One job at a time per incident (a lease):
    another job finding it taken comes back shortly, and the holder looks again for moments recorded while it
    worked before it lets go. Returns a line for the log."""
    try:
        lease = await services.guards.acquire_lease(f"announce|{incident_id}", secrets.token_hex(8), incident_id,
                                                    _LEASE)
    except LeaseHeld:
        await request(services, incident_id, delay=5)
        return "another job is announcing; again in 5 s"
    try:
        return await _announce_all(services, incident_id)
    finally:
        await services.guards.release_lease(lease)


async def _announce_all(services: Services, incident_id: str) -> str:
    done: list[str] = []
    later: dict[str, float] = {}
    for _ in range(10):  # moments recorded meanwhile are handled too; a bound, not a loop without end
        try:
            incident = await services.store.get(incident_id)
        except IncidentNotFound:
            return "unknown incident"
        pending = [moment for moment in incident.pending_moments if moment not in later]
        if not pending:
            break
        handled = []
        for moment in pending:
            waits = [await _one(services, subscriber, incident, moment) for subscriber in services.subscribers
                     if subscriber.wants(services, moment)]
            waits = [wait for wait in waits if wait is not None]
            if waits:
                later[moment] = min(waits)
            else:
                handled.append(moment)
        await services.store.update(incident_id, lambda current: _mark(current, handled, None))
        done.extend(handled)
    if later:
        delay = max(1.0, min(later.values()))
        due = services.clock() + timedelta(seconds=delay)
        await services.store.update(incident_id, lambda current: _mark(current, [], due))
        await request(services, incident_id, delay=math.ceil(delay))
        return f"announced {', '.join(done) or 'nothing yet'}; {', '.join(later)} again in {delay:.0f} s"
    return f"announced {', '.join(done)}" if done else "nothing to announce"


async def give_up(services: Services, incident_id: str) -> str:
    """A moments job the queue gave up on: its moments count as announced (the incident itself is untouched)."""
    try:
        incident = await services.store.get(incident_id)
    except IncidentNotFound:
        return "unknown incident"
    pending = incident.pending_moments
    if not pending:
        return "nothing pending"
    await services.store.append(incident_id, "announce", "failed",
                                f"announcing {', '.join(pending)} kept failing and was given up; the error is in "
                                "the function logs (search for the incident id)")
    await services.store.update(incident_id, lambda current: _mark(current, pending, None))
    return "given up"


async def _one(services: Services, subscriber: Subscriber, incident: Incident, moment: str) -> float | None:
    """Run one subscriber on one moment: None once handled (or failed for good), else the delay it asked for."""
    try:
        await subscriber.handle(services, incident, moment)
    except Waiting as wait:
        return wait.delay
    except StoreError:  # the store is down: the whole job is retried by the queue
        raise
    except Exception as error:  # noqa: BLE001 - a subscriber's failure is recorded, never the incident's
        log.exception("%s could not announce %s of %s", subscriber.name, moment, incident.id,
                      extra={"incident_id": incident.id})
        await services.store.append(incident.id, subscriber.name, "failed", f"{moment}: {_said(error)}")
    return None


def _mark(incident: Incident, moments: list[Any], due: Any) -> Incident | None:
    new = [moment for moment in moments if moment not in incident.announced]
    if not new and due is None:
        return None
    incident.announced.extend(new)
    if due is not None:
        incident.next_check_at = due
    return incident


def _said(error: Exception) -> str:
    return str(error) or type(error).__name__
