"""Run an incident's Plan, step by step, through the responders; safe to run again at any point.

Every run re-reads the incident and each step's progress record, skips what is done, waits out what is
delayed, and holds a lease on a step's target while it acts. Every phase writes the timeline before and
after it acts. Temporary errors re-enqueue the incident with a delay (within the step's retry budget);
Escalate and permanent errors end the incident. Anything else (storage down, a bug) propagates, so the
queue retries the message and, after host.json's maxDequeueCount, poisons it (see fail_poisoned).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from datetime import timedelta
from enum import Enum

from shared.errors import EntityChanged, EntityExists, Escalate, PermanentError, TemporaryError
from shared.guards import LeaseHeld
from shared.incidents import Incident, IncidentNotFound
from shared.plan import PlannedStep, short_target
from shared.services import Services
from shared.status import Status, TransitionRefused, is_final
from shared.steps import StepContext

log = logging.getLogger("responder.executor")

_EARLY = timedelta(seconds=1)  # queue visibility is whole seconds: a follow-up may arrive a little early


class _Next(Enum):
    CONTINUE = "continue"
    STOP = "stop"


async def run(services: Services, incident_id: str, run_id: str) -> str:
    """Drive the incident as far as it can go now. Returns a one-line outcome for the log."""
    store = services.store
    try:
        incident = await store.get(incident_id)
    except IncidentNotFound:
        log.warning("run message for unknown incident %s dropped", incident_id, extra={"incident_id": incident_id})
        return "unknown incident"
    if is_final(incident.status):
        return f"already {incident.status}"
    if incident.status is Status.AWAITING_APPROVAL and incident.approved_at is None:
        return "awaiting approval"
    if incident.status in (Status.ACCEPTED, Status.AWAITING_APPROVAL):
        if not await claim_cooldowns(services, incident):
            return "suppressed"
        try:
            incident = await store.move(incident_id, Status.RUNNING, f"executing: {incident.plan.summary()}")
        except TransitionRefused:  # cancelled (or rejected) in the meantime: nothing ran, give the targets back
            await _release_cooldowns(services, incident)
            return f"stopped: {(await store.get(incident_id)).status}"
        await store.append(incident_id, "executor", "started", f"run {run_id}: {incident.plan.summary()}")

    last_detail = ""
    for index, step in enumerate(incident.plan.steps):
        incident = await store.get(incident_id)
        if is_final(incident.status):  # cancelled between steps
            await store.append(incident_id, "executor", "stopped", f"incident {incident.status}: "
                               f"{len(incident.plan.steps) - index} step(s) not started")
            return str(incident.status)
        outcome, detail = await _run_step(services, incident, index, step, run_id)
        if outcome is _Next.STOP:
            return detail
        last_detail = detail or last_detail

    if incident.plan.dry_run:
        reason = "dry run complete: nothing was changed"
    else:
        reason = f"rollback complete: {last_detail}" if last_detail else "plan complete"
    try:
        await store.move(incident_id, Status.RESOLVED, reason)
    except TransitionRefused:
        return f"stopped: {(await store.get(incident_id)).status}"
    await store.append(incident_id, "executor", "resolved", reason)
    return "resolved"


def _cooling(incident: Incident) -> list[PlannedStep]:
    return [step for step in incident.plan.steps if step.guards.cooldown and not step.guards.dry_run]


async def claim_cooldowns(services: Services, incident: Incident) -> bool:
    """Claim the cooldown of every step that has one, all or none: if another incident holds one, give back
    what this one claimed and suppress it, with the reason."""
    claimed: list[str] = []
    for step in _cooling(incident):
        held = await services.guards.claim_cooldown(step.cooldown_key, step.guards.cooldown, incident.id)
        if held.incident_id != incident.id:
            for key in claimed:
                await services.guards.release_cooldown(key, incident.id)
            reason = (f"{step.kind} on {short_target(step.target)} is in cooldown until "
                      f"{held.until:%Y-%m-%dT%H:%M:%SZ} (after incident {held.incident_id})")
            await services.store.append(incident.id, "cooldown", "suppressed", reason)
            with contextlib.suppress(TransitionRefused):  # cancelled meanwhile: it stays cancelled
                await services.store.move(incident.id, Status.SUPPRESSED, reason)
            return False
        claimed.append(step.cooldown_key)
    return True


async def _release_cooldowns(services: Services, incident: Incident) -> None:
    for step in _cooling(incident):
        await services.guards.release_cooldown(step.cooldown_key, incident.id)


async def _run_step(services: Services, incident: Incident, index: int, step: PlannedStep,
                    run_id: str) -> tuple[_Next, str]:
    from responders import KINDS, REGISTRY

    store, now = services.store, services.clock()
    progress = await store.step(incident.id, index, step.kind, step.target)
    if progress.finished:
        return _Next.CONTINUE, progress.message
    if progress.state == "delayed" and progress.delayed_until and progress.delayed_until > now + _EARLY:
        return _Next.STOP, "step delayed; its follow-up message is queued"  # the run that delayed it enqueued one
    responder, kind = REGISTRY[step.kind], KINDS[step.kind]
    ctx = StepContext(services, incident, step, index, kind.params.model_validate(step.params), progress)
    try:
        ctx.lease = await services.guards.acquire_lease(step.target, run_id, incident.id,
                                                        services.settings.lease_duration)
    except LeaseHeld as held:
        delay = max(1.0, (held.expires - now).total_seconds())
        if held.incident_id == incident.id:  # another run of this incident has the step (or died holding it)
            await services.queue.send(incident.id, "another run holds the target", delay_seconds=math.ceil(delay))
            return _Next.STOP, "another run of this incident holds the target; checking back after its lease"
        return await _delay(ctx, f"waiting for the target: {held}", delay, counts=False)
    try:
        ctx.progress = await store.step(incident.id, index, step.kind, step.target)  # as of now, under the lease
        if ctx.progress.finished:
            return _Next.CONTINUE, ctx.progress.message
        if ctx.progress.state in ("failed", "escalated"):  # ended, but its run died before moving the incident
            status = Status.FAILED if ctx.progress.state == "failed" else Status.ESCALATED
            with contextlib.suppress(TransitionRefused):
                await store.move(incident.id, status, ctx.progress.message)
            return _Next.STOP, ctx.progress.state
        return await _phases(ctx, responder, last=index == len(incident.plan.steps) - 1)
    except TemporaryError as error:
        return await _delay(ctx, str(error), error.delay)
    except LeaseHeld as error:  # lost the lease during a long wait: another run has the target now
        return await _delay(ctx, f"lost the lease on the target: {error}", 5.0, counts=False)
    except Escalate as error:
        return await _end(ctx, "escalated", Status.ESCALATED, str(error))
    except PermanentError as error:
        return await _end(ctx, "failed", Status.FAILED, str(error))
    except (EntityChanged, EntityExists):  # another run wrote this step's record since: it carries the step on
        return _Next.STOP, "another run owns this step"
    finally:
        if ctx.lease is not None:
            await services.guards.release_lease(ctx.lease)


async def _phases(ctx: StepContext, responder, last: bool) -> tuple[_Next, str]:
    store, incident_id = ctx.services.store, ctx.incident.id
    if ctx.progress.phase == "precheck":
        if ctx.progress.started_at is None:
            ctx.progress.started_at = ctx.now()
        ctx.progress.state = "running"
        await ctx.checkpoint()
        await ctx.note("started", f"{ctx.step.kind} on {short_target(ctx.step.target)}"
                                  f"{' (dry run)' if ctx.dry_run else ''}")
        detail = await _timed(ctx, "precheck ok", responder.precheck)
        ctx.progress.phase = "execute"
        await ctx.checkpoint()
    if ctx.progress.phase == "execute":
        detail = await _timed(ctx, "dry run" if ctx.dry_run else "executed", responder.execute)
        ctx.progress.phase, ctx.progress.message = ("finished" if ctx.dry_run else "verify"), detail
        if ctx.dry_run:
            ctx.progress.state, ctx.progress.ended_at = "done", ctx.now()
        await ctx.checkpoint()
    if ctx.progress.phase == "verify":
        if last:
            with contextlib.suppress(TransitionRefused):  # cancelled meanwhile: still verify what was done
                await store.move(incident_id, Status.VERIFYING, f"verifying {ctx.step.kind}")
        detail = await _timed(ctx, "verified", responder.verify)
        ctx.progress.phase, ctx.progress.state, ctx.progress.message = "finished", "done", detail
        ctx.progress.ended_at = ctx.now()
        await ctx.checkpoint()
    return _Next.CONTINUE, ctx.progress.message


async def _timed(ctx: StepContext, outcome: str, phase) -> str:
    started = time.perf_counter()
    detail = await phase(ctx)
    await ctx.note(outcome, detail, time.perf_counter() - started)
    return detail


async def _delay(ctx: StepContext, reason: str, delay: float, counts: bool = True) -> tuple[_Next, str]:
    """Try the step again in `delay` seconds. `counts`: a failure of the step's own (waiting for a target that
    another incident holds is not one, and does not use up the step's retries)."""
    from responders import KINDS

    progress, now, budget = ctx.progress, ctx.now(), KINDS[ctx.step.kind].max_retries
    if counts:
        progress.retries += 1
        if progress.retries > budget:
            return await _end(ctx, "failed", Status.FAILED, f"{ctx.step.kind} gave up after {budget} retries; "
                                                            f"last: {reason}")
    progress.state, progress.delayed_until, progress.message = "delayed", now + timedelta(seconds=delay), reason
    await ctx.checkpoint()
    attempt = f"retry {progress.retries}/{budget}" if counts else "waiting"
    await ctx.note("delayed", f"{attempt}, again in {delay:.0f} s: {reason}")
    await ctx.services.queue.send(ctx.incident.id, f"retry {ctx.step.kind}", delay_seconds=math.ceil(delay))
    return _Next.STOP, f"delayed {delay:.0f} s"


async def _end(ctx: StepContext, state: str, status: Status, reason: str) -> tuple[_Next, str]:
    ctx.progress.state, ctx.progress.message, ctx.progress.ended_at = state, reason, ctx.now()
    await ctx.checkpoint()
    await ctx.note(state, reason)
    try:
        await ctx.services.store.move(ctx.incident.id, status, reason)
    except TransitionRefused:  # cancelled while the step ran: the step's outcome is on the timeline
        pass
    return _Next.STOP, state


async def fail_poisoned(services: Services, incident_id: str) -> str:
    """A run message the queue gave up on: the incident ends failed, with the reason, never silently."""
    try:
        incident = await services.store.get(incident_id)
    except IncidentNotFound:
        return "unknown incident"
    if is_final(incident.status):
        return f"already {incident.status}"
    reason = ("the run message kept failing (host.json maxDequeueCount) and was moved to the poison queue; "
              "the last error is in the function logs (search for the incident id)")
    await services.store.append(incident_id, "executor", "failed", reason)
    await services.store.move(incident_id, Status.FAILED, reason)
    return "failed"
