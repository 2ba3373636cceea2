"""Run an incident's Plan, step by step, through the responders; safe to run again at any point.

Every run re-reads the incident and each step's progress record, skips what is done, waits out what is
delayed, and holds a lease on a step's target while it acts. Every phase writes the timeline before and
after it acts. The executor, not the responder, decides what becomes of a change a responder describes:
applied, rendered for a dry run, or skipped when nothing needs changing. A wait for something under way
(Waiting) is served in place while the invocation's budget allows, else by a delayed message; temporary errors
re-enqueue the incident with a delay (within the step's retry budget); Escalate and permanent errors end the
incident. Anything else (storage down, a bug) propagates, so the queue retries the message and, after
host.json's maxDequeueCount, poisons it (see fail_poisoned).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from shared.decide.durations import format_duration
from shared.decide.incident import PLAN_GATE, Incident
from shared.decide.plan import PlannedStep, after_failure, short_target
from shared.decide.status import Status, StepPhase, StepState, is_final, step_transition
from shared.errors import (
    ApprovalNeeded,
    EntityChanged,
    EntityExists,
    Escalate,
    IncidentNotFound,
    LeaseHeld,
    PermanentError,
    TemporaryError,
    TransitionRefused,
    Waiting,
)
from shared.run import cooldowns
from shared.run.step import Change, NoChange, Responder, StepContext
from shared.services import Services

log = logging.getLogger("responder.executor")

_EARLY = timedelta(seconds=1)  # queue visibility is whole seconds: a follow-up may arrive a little early


class _Next(Enum):
    CONTINUE = "continue"
    STOP = "stop"


@dataclass
class Invocation:
    """One run of the executor, and how much of its budget is left for waiting in place. No invocation waits
    longer in total than RESPONDER_INVOCATION_BUDGET; a longer wait is a delayed message. Time is the services'
    clock, so a test's fake clock (and its fake sleep) runs it."""

    services: Services
    started: datetime
    began: float
    paused: float = 0.0

    @classmethod
    def begin(cls, services: Services) -> Invocation:
        return cls(services, services.clock(), time.monotonic())

    @property
    def elapsed(self) -> float:
        # the longest of the clock's view, the real time spent (requests included) and the pauses
        clock = (self.services.clock() - self.started).total_seconds()
        return max(clock, time.monotonic() - self.began, self.paused)

    def can_wait(self, delay: float) -> bool:
        return self.elapsed + delay <= self.services.settings.invocation_budget.total_seconds()

    async def pause(self, ctx: StepContext[Any], delay: float) -> None:
        """Wait `delay` seconds in place, keeping the target's lease alive."""
        beat = self.services.settings.lease_duration.total_seconds() / 3
        while delay > 0:
            step = min(delay, beat)
            await self.services.sleep(step)
            self.paused, delay = self.paused + step, delay - step
            await ctx.heartbeat()


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
    if incident.status is Status.AWAITING_APPROVAL and incident.awaited_gate != PLAN_GATE:  # approved mid-plan
        try:
            incident = await store.move(incident_id, Status.RUNNING, f"approved ({incident.awaited_gate}): "
                                                                     f"continuing")
        except TransitionRefused:
            return f"stopped: {(await store.get(incident_id)).status}"
    elif incident.status in (Status.ACCEPTED, Status.AWAITING_APPROVAL):
        if not await cooldowns.claim(services, incident):
            return "suppressed"
        try:
            incident = await store.move(incident_id, Status.RUNNING, f"executing: {incident.plan.summary()}")
        except TransitionRefused:  # cancelled (or rejected) in the meantime: nothing ran, give the targets back
            await cooldowns.release(services, incident)
            return f"stopped: {(await store.get(incident_id)).status}"
        await store.append(incident_id, "executor", "started", f"run {run_id}: {incident.plan.summary()}")

    last_detail, invocation = "", Invocation.begin(services)
    for index, step in enumerate(incident.plan.steps):
        incident = await store.get(incident_id)
        if is_final(incident.status):  # cancelled between steps
            await _not_run(services, incident, index, f"incident {incident.status}")
            return str(incident.status)
        outcome, detail = await _run_step(services, incident, index, step, run_id, invocation)
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


async def _run_step(services: Services, incident: Incident, index: int, step: PlannedStep,
                    run_id: str, invocation: Invocation) -> tuple[_Next, str]:
    store, now = services.store, services.clock()
    progress = await store.step(incident.id, index, step.kind, step.target)
    if progress.finished:
        return _Next.CONTINUE, progress.message
    if (progress.state in (StepState.DELAYED, StepState.WAITING) and progress.delayed_until
            and progress.delayed_until > now + _EARLY):
        return _Next.STOP, "step waiting; its follow-up message is queued"  # the run that delayed it enqueued one
    responder = services.responders[step.kind]
    ctx = StepContext(services, incident, step, index, responder.KIND.params.model_validate(step.params), progress)
    if not responder.KIND.holds_target:  # it only reads: no lease, so it never keeps another incident waiting
        return await _under_lease(ctx, responder, invocation, last=index == len(incident.plan.steps) - 1)
    try:
        ctx.lease = await services.guards.acquire_lease(step.target, run_id, incident.id,
                                                        services.settings.lease_duration)
    except LeaseHeld as held:
        if held.incident_id == incident.id:  # another run of this incident is at it (or died holding it)
            delay = min(max(1.0, (held.expires - now).total_seconds()), 30.0)
            await services.queue.send(incident.id, "another run holds the target", delay_seconds=math.ceil(delay))
            return _Next.STOP, "another run of this incident holds the target; checking back after its lease"
        return await _wait_for_target(ctx, held)
    try:
        outcome = await _under_lease(ctx, responder, invocation, last=index == len(incident.plan.steps) - 1)
    except (EntityChanged, EntityExists):  # another run of this incident wrote the step's record since: it
        return _Next.STOP, "another run owns this step"  # carries the step on (and the lease with it)
    except BaseException:  # storage down, a bug: the message is retried; keep the target for that retry
        with contextlib.suppress(Exception):
            await services.guards.renew_lease(ctx.lease, services.settings.lease_duration, parked=True)
        raise
    awaiting_person = "awaiting_gate" in ctx.progress.data  # no lease is held through a wait for a person
    if ctx.lease is not None and (awaiting_person or ctx.progress.state not in (StepState.WAITING, StepState.DELAYED)):
        await services.guards.release_lease(ctx.lease)
    return outcome


async def _under_lease(ctx: StepContext[Any], responder: Responder, invocation: Invocation,
                       last: bool) -> tuple[_Next, str]:
    """The step, as far as it goes now, with the target's lease held; its outcome is recorded on the step."""
    store, incident = ctx.services.store, ctx.incident
    ctx.progress = await store.step(incident.id, ctx.index, ctx.step.kind, ctx.step.target)  # as of now
    if ctx.progress.finished:
        return _Next.CONTINUE, ctx.progress.message
    if ctx.progress.state in (StepState.FAILED, StepState.ESCALATED):  # ended; its run died before the incident
        status = Status.FAILED if ctx.progress.state is StepState.FAILED else Status.ESCALATED
        with contextlib.suppress(TransitionRefused):
            await store.move(incident.id, status, ctx.progress.message)
        return _Next.STOP, str(ctx.progress.state)
    ctx.progress.data.pop("waiting_for_target_since", None)
    ctx.progress.data.pop("awaiting_gate", None)
    try:
        return await _phases(ctx, responder, invocation, last)
    except ApprovalNeeded as need:
        return await _await_approval(ctx, need)
    except TemporaryError as error:
        return await _delay(ctx, str(error), error.delay)
    except LeaseHeld as error:  # lost the lease during a wait: another incident has the target now
        return await _delay(ctx, f"lost the lease on the target: {error}", 5.0, counts=False)
    except Escalate as error:
        return await _end(ctx, StepState.ESCALATED, Status.ESCALATED, str(error))
    except PermanentError as error:
        return await _end(ctx, StepState.FAILED, Status.FAILED, str(error))


async def _phases(ctx: StepContext[Any], responder: Responder, invocation: Invocation,
                  last: bool) -> tuple[_Next, str]:
    """Run the step's phases from where its record says it is. A phase that waits (Waiting) is called again
    after the delay: in this invocation while its budget allows, else by a delayed message."""
    while True:
        try:
            return await _advance(ctx, responder, last)
        except Waiting as wait:
            if not invocation.can_wait(wait.delay):
                return await _wait_later(ctx, wait)
            if wait.notable and ctx.progress.data.get("waiting_on") != wait.topic:
                ctx.progress.data["waiting_on"] = wait.topic
                await ctx.note("waiting", str(wait))
            await invocation.pause(ctx, wait.delay)


def _enter(ctx: StepContext[Any], state: StepState) -> None:
    ctx.progress.state = step_transition(ctx.progress.state, state)


async def _advance(ctx: StepContext[Any], responder: Responder, last: bool) -> tuple[_Next, str]:
    # ctx.progress is replaced by each checkpoint (it carries the new ETag): never hold on to an old one
    status_while = ctx.services.responders[ctx.step.kind].KIND.incident_status
    if status_while and ctx.incident.status != status_while:  # e.g. the post-rollback watch: "watching"
        ctx.incident = await ctx.services.store.move(ctx.incident.id, Status(status_while),
                                                     f"{ctx.step.kind} on {short_target(ctx.step.target)}")
    if ctx.progress.phase is StepPhase.PRECHECK:
        if ctx.progress.started_at is None:
            ctx.progress.started_at = ctx.now()
            _enter(ctx, StepState.RUNNING)
            await ctx.checkpoint()
            await ctx.note("started", f"{ctx.step.kind} on {short_target(ctx.step.target)}"
                                      f"{' (dry run)' if ctx.dry_run else ''}")
        elif ctx.progress.state is not StepState.RUNNING:
            _enter(ctx, StepState.RUNNING)
            await ctx.checkpoint()
        await _timed(ctx, "precheck ok", responder.precheck)
        ctx.progress.phase = StepPhase.EXECUTE
        await ctx.checkpoint()
    if ctx.progress.phase is StepPhase.EXECUTE:
        _enter(ctx, StepState.RUNNING)
        if "change" not in ctx.progress.data:  # what would change, asked once; what becomes of it is decided here
            described = await responder.describe(ctx)
            if isinstance(described, NoChange) or ctx.dry_run:
                return await _not_executed(ctx, responder, described, last)
            ctx.progress.data["change"] = described.summary
            await ctx.checkpoint()
        ctx.progress.message = await _timed(ctx, "executed", responder.execute)
        ctx.progress.phase = StepPhase.VERIFY
        await ctx.checkpoint()
    if ctx.progress.phase is StepPhase.VERIFY:
        _enter(ctx, StepState.RUNNING)
        if last and ctx.incident.status is Status.RUNNING:
            with contextlib.suppress(TransitionRefused):  # cancelled meanwhile: still verify what was done
                ctx.incident = await ctx.services.store.move(ctx.incident.id, Status.VERIFYING,
                                                             f"verifying {ctx.step.kind}")
        detail = await _timed(ctx, "verified", responder.verify)
        ctx.progress.phase, ctx.progress.message, ctx.progress.ended_at = StepPhase.FINISHED, detail, ctx.now()
        _enter(ctx, StepState.DONE)
        await ctx.checkpoint()
    return _Next.CONTINUE, ctx.progress.message


async def _not_executed(ctx: StepContext[Any], responder: Responder, described: Change | NoChange,
                        last: bool) -> tuple[_Next, str]:
    """A dry run renders the change and ends the step; a step with nothing to change is skipped (and, unless it
    is a dry run, still verified: the wanted state must be proven, whoever brought it about)."""
    if isinstance(described, NoChange):
        detail = f"nothing to change: {described.reason}"
        await ctx.note("skipped", detail)
    else:
        detail = f"dry run: would {described.summary}; nothing changed"
        await ctx.note("dry run", detail)
    ctx.progress.message = detail
    if ctx.dry_run:
        ctx.progress.phase, ctx.progress.ended_at = StepPhase.FINISHED, ctx.now()
        _enter(ctx, StepState.SKIPPED)
        await ctx.checkpoint()
        return _Next.CONTINUE, detail
    ctx.progress.data["change"] = None
    ctx.progress.phase = StepPhase.VERIFY
    await ctx.checkpoint()
    return await _advance(ctx, responder, last)


async def _timed(ctx: StepContext[Any], outcome: str, phase) -> str:
    started = time.perf_counter()
    detail = await phase(ctx)
    await ctx.note(outcome, detail, time.perf_counter() - started)
    return detail


async def _wait_later(ctx: StepContext[Any], wait: Waiting) -> tuple[_Next, str]:
    """Save where the step is, keep the target, and come back after `wait.delay` by a delayed message. The
    timeline hears of a wait when it starts and when what is awaited changes, not at every check-back."""
    now, delay = ctx.now(), max(1.0, wait.delay)
    announce = ctx.progress.data.get("waiting_on") != wait.topic
    _enter(ctx, StepState.WAITING)
    ctx.progress.delayed_until, ctx.progress.message = now + timedelta(seconds=delay), str(wait)
    ctx.progress.data["waiting_on"] = wait.topic
    await ctx.checkpoint()
    if announce:
        await ctx.note("waiting", f"{wait}; checking again every {delay:.0f} s")
    await _come_back(ctx, delay, f"{ctx.step.kind} waiting")
    return _Next.STOP, f"waiting {delay:.0f} s"


async def _wait_for_target(ctx: StepContext[Any], held: LeaseHeld) -> tuple[_Next, str]:
    """Another incident acts on the target: wait for it (not a failure of this step), but not for ever."""
    limit, now = ctx.services.settings.target_wait, ctx.now()
    since = ctx.progress.data.get("waiting_for_target_since")
    if since and now - datetime.fromisoformat(since) > limit:
        return await _end(ctx, StepState.ESCALATED, Status.ESCALATED,
                          f"{ctx.step.kind} waited more than {format_duration(limit)} for the target: {held}")
    if not since:
        ctx.progress.data["waiting_for_target_since"] = now.isoformat()
    delay = min(max(1.0, (held.expires - now).total_seconds()), 30.0)
    return await _delay(ctx, f"waiting for the target: {held}", delay, counts=False)


async def _delay(ctx: StepContext[Any], reason: str, delay: float, counts: bool = True) -> tuple[_Next, str]:
    """Try the step again in `delay` seconds. `counts`: a failure of the step's own (waiting for a target that
    another incident holds is not one, and does not use up the step's retries)."""
    now, budget = ctx.now(), ctx.services.responders[ctx.step.kind].KIND.max_retries
    if counts:
        retry = after_failure(ctx.progress.retries, budget)
        ctx.progress.retries = retry.retries
        if retry.give_up:
            return await _end(ctx, StepState.FAILED, Status.FAILED,
                              f"{ctx.step.kind} gave up after {budget} retries; last: {reason}")
    if ctx.progress.state is StepState.PENDING:  # never started (waiting for the target from the first run)
        _enter(ctx, StepState.RUNNING)
    _enter(ctx, StepState.DELAYED)
    ctx.progress.delayed_until, ctx.progress.message = now + timedelta(seconds=delay), reason
    await ctx.checkpoint()
    attempt = f"retry {ctx.progress.retries}/{budget}" if counts else "waiting"
    await ctx.note("delayed", f"{attempt}, again in {delay:.0f} s: {reason}")
    await _come_back(ctx, delay, f"retry {ctx.step.kind}")
    return _Next.STOP, f"delayed {delay:.0f} s"


async def _come_back(ctx: StepContext[Any], delay: float, why: str) -> None:
    """Keep the target through the wait, tell the reconciler when the incident is next due, and enqueue the
    follow-up message."""
    services, due = ctx.services, ctx.now() + timedelta(seconds=delay)
    if ctx.lease is not None:
        try:
            ctx.lease = await services.guards.renew_lease(ctx.lease, timedelta(seconds=delay)
                                                          + services.settings.lease_duration, parked=True)
        except LeaseHeld:  # another incident has the target now: the next run waits for it
            ctx.lease = None
    await services.store.update(ctx.incident.id, lambda incident: _due(incident, due))
    await services.queue.send(ctx.incident.id, why, delay_seconds=math.ceil(delay))


def _due(incident: Incident, due: datetime) -> Incident:
    incident.next_check_at = due
    return incident


async def _await_approval(ctx: StepContext[Any], need: ApprovalNeeded) -> tuple[_Next, str]:
    """The step stops for a person: its place is saved, the incident waits in awaiting_approval with the request
    (for RESPONDER_APPROVAL_TTL, then it is cancelled), and approving it sends the run message that continues it.
    The target's lease is let go meanwhile (the cooldown claimed at the start still holds)."""
    services, now = ctx.services, ctx.now()
    _enter(ctx, StepState.WAITING)
    ctx.progress.delayed_until, ctx.progress.message = None, f"awaiting approval: {need.request}"
    ctx.progress.data["awaiting_gate"] = need.gate
    await ctx.checkpoint()
    ttl = services.settings.approval_ttl
    try:
        ctx.incident = await services.store.move(
            ctx.incident.id, Status.AWAITING_APPROVAL, f"awaiting approval: {need.request}", gate=need.gate,
            approval_request=need.request, approvers_needed=need.approvers, gate_destructive=need.destructive,
            approval_expires_at=now + ttl, approved_at=None, approved_by=None, next_check_at=None)
    except TransitionRefused:
        current = await services.store.get(ctx.incident.id)
        if not is_final(current.status):
            raise
        return _Next.STOP, str(current.status)  # cancelled while the step ran
    who = f"{need.approvers} different approvers" if need.approvers > 1 else "an approver"
    await ctx.note("awaiting approval", f"{need.request}; needs {who}"
                   f"{' other than the requester' if need.destructive else ''}, within {format_duration(ttl)}")
    return _Next.STOP, "awaiting approval"


async def _end(ctx: StepContext[Any], state: StepState, status: Status, reason: str) -> tuple[_Next, str]:
    if ctx.progress.state is StepState.PENDING:
        _enter(ctx, StepState.RUNNING)
    _enter(ctx, state)
    ctx.progress.message, ctx.progress.ended_at = reason, ctx.now()
    await ctx.checkpoint()
    await ctx.note(str(state), reason)
    try:
        await ctx.services.store.move(ctx.incident.id, status, reason)
    except TransitionRefused:  # cancelled while the step ran: the step's outcome is on the timeline
        pass
    await _not_run(ctx.services, ctx.incident, ctx.index + 1, f"{ctx.step.kind} {state}")
    return _Next.STOP, str(state)


async def _not_run(services: Services, incident: Incident, first: int, why: str) -> None:
    """Record every step from `first` on that never started as not run, and say so once on the timeline."""
    later = list(enumerate(incident.plan.steps))[first:]
    if not later:
        return
    skipped = []
    for index, step in later:
        progress = await services.store.step(incident.id, index, step.kind, step.target)
        if progress.state is not StepState.PENDING:
            continue
        progress.state, progress.message = step_transition(progress.state, StepState.NOT_RUN), f"not run: {why}"
        with contextlib.suppress(EntityChanged, EntityExists):  # another run recorded it first
            await services.store.save_step(incident.id, progress)
            skipped.append(f"{step.kind} on {short_target(step.target)}")
    if skipped:
        await services.store.append(incident.id, "executor", "not run", f"{why}: {'; '.join(skipped)}")


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
