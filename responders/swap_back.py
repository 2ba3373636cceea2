"""swap_back: put the previous release (still in the staging slot) back into production.

Runbook, "Manual Slot Swap Rollback": verify the slots, `az webapp deployment slot swap --slot staging
--target-slot production`, `curl -f .../health`. Refuses (escalates) when staging is unhealthy too, when
production has not changed recently, or when both slots run the same release; never swaps twice.

The swap is followed as Azure runs it: a refusal because another operation holds the site (409) is waited out
and asked again; the swap is recorded as in flight only once Azure accepted it, and its status is read at each
check-back until it ends. No phase waits in place: it raises Waiting and is called again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.adapters import health
from shared.adapters.appservice import PRODUCTION, SiteRef, SlotInfo
from shared.decide.durations import format_duration, parse_duration
from shared.errors import AzureConflict, AzureOperationFailed, Escalate, Waiting
from shared.adapters.lro import Operation
from shared.decide.plan import StepKind
from shared.decide.releases import Release, same_release
from responders.verification import prove_healthy
from shared.run.step import Change, NoChange, StepContext


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    slot: str = Field(default="staging", description="The slot that holds the previous release.")
    health_path: str = Field(default="/health", pattern=r"^/", description="Health endpoint path on each slot.")
    health_attempts: int = Field(default=3, ge=1, le=20, description="Probes of staging before giving up on it.")
    health_interval: float = Field(default=2.0, ge=0, description="Seconds between those probes.")
    health_timeout: float = Field(default=5.0, gt=0, description="Seconds one probe may take.")
    recent_change_window: timedelta = Field(
        default=timedelta(hours=24), description="Only swap back if production changed (swap or deployment) "
        "this recently: an old release that suddenly fails is not fixed by the release before it.")
    verify_window: float = Field(default=120.0, gt=0, description="Seconds production has to become healthy.")
    verify_interval: float = Field(default=5.0, ge=0, description="Seconds between verification probes.")
    verify_successes: int = Field(default=3, ge=1, description="Consecutive healthy answers that prove it.")
    inflight_window: float = Field(
        default=60.0, gt=0, description="After a crash between asking Azure to swap and recording its answer, "
        "how long to wait before asking again (a swap that did start is then found, or refused with 409).")
    conflict_timeout: float = Field(
        default=900.0, gt=0, description="How long to keep asking while App Service refuses the swap because "
        "another operation (a deployment, a config change) runs on the site, before escalating.")
    conflict_interval: float = Field(default=15.0, gt=0, le=300, description="Seconds between asks while App "
                                     "Service refuses the swap (409).")
    swap_timeout: float = Field(default=900.0, gt=0, description="How long an accepted swap may run.")
    poll_interval: float = Field(default=5.0, gt=0, le=60, description="Seconds between status reads of a "
                                 "running swap when Azure sends no Retry-After.")

    @field_validator("recent_change_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


KIND = StepKind(
    name="swap_back", params=Params, expected_seconds=30, target_type="Microsoft.Web/sites",
    component="backend", api_params=frozenset({"slot"}),
    description="Swap the staging slot (previous release) back into production, verified before and after.",
)


def _url(info: SlotInfo, path: str) -> str:
    return f"https://{info.host}{path}"


def _site(ctx: StepContext[Params]) -> SiteRef:
    return SiteRef.parse(ctx.step.target)


async def _slots(ctx: StepContext[Params]) -> tuple[SiteRef, SlotInfo, SlotInfo]:
    site = _site(ctx)
    app_service = ctx.services.app_service(site.subscription)
    production, staging = await asyncio.gather(app_service.slot_info(site, PRODUCTION),
                                               app_service.slot_info(site, ctx.params.slot))
    return site, production, staging


async def precheck(ctx: StepContext[Params]) -> str:
    params = ctx.params
    site, production, staging = await _slots(ctx)
    staging_probe, production_probe = await asyncio.gather(
        health.probe(ctx.services.http, _url(staging, params.health_path), params.health_timeout),
        health.probe(ctx.services.http, _url(production, params.health_path), params.health_timeout))
    broken, previous = production.release(production_probe.version), staging.release(staging_probe.version)
    now = ctx.now()
    changed_at, how = _last_change(production)
    attempts = ctx.data.get("staging_probes", 0) + (0 if staging_probe.healthy else 1)
    ctx.data["staging_probes"] = attempts
    verdict = judge(broken, previous, staging_probe.healthy, staging_probe.describe(), attempts, changed_at, now,
                    params)
    if verdict is not None:
        raise verdict

    ctx.data.update(production_release=broken.to_data(), previous_release=previous.to_data(),
                    prechecked_at=now.isoformat(),
                    last_swap_at=production.last_swap_at.isoformat() if production.last_swap_at else None)
    age = format_duration(timedelta(seconds=int((now - changed_at).total_seconds())))
    unknown = "" if same_release(broken, previous) is False else (
        "; which releases the slots run is not known (no version, image or deployment tells them apart): the "
        "verification decides")
    return (f"staging ({previous.label()}) is healthy: {staging_probe.describe()}; production ({broken.label()}) "
            f"changed {age} ago by {how}{unknown}")


def judge(broken: Release, previous: Release, staging_healthy: bool, staging_answer: str, attempts: int,
          changed_at: datetime | None, now: datetime, params: Params) -> Waiting | Escalate | None:
    """Whether swapping back is safe and useful, from what the precheck saw. Pure. None: go ahead; Waiting:
    probe staging again (`attempts` unhealthy answers so far); Escalate: a person decides, with the reason."""
    if same_release(broken, previous):
        return Escalate(f"staging runs the same release as production ({broken.label()}): a swap would change "
                        f"nothing; redeploy a previous version instead")
    if not staging_healthy:
        if attempts < params.health_attempts:
            return Waiting(f"staging {params.health_path} answered {staging_answer} (attempt {attempts}/"
                           f"{params.health_attempts})", delay=params.health_interval, topic="staging health",
                           notable=True)
        return Escalate(f"staging slot is also problematic ({params.health_path} answered {staging_answer} after "
                        f"{params.health_attempts} attempts): redeploy a previous version instead of swapping")
    if changed_at is None or now - changed_at > params.recent_change_window:
        when = f"since {changed_at:%Y-%m-%d %H:%M}Z" if changed_at else "in its recorded history"
        return Escalate(f"production has not changed {when} (window "
                        f"{format_duration(params.recent_change_window)}): the failure is probably not the latest "
                        f"release, so swapping back is not the fix")
    return None


def _last_change(production: SlotInfo) -> tuple[datetime | None, str]:
    candidates = []
    if production.last_swap_at:
        candidates.append((production.last_swap_at, f"a swap from {production.last_swap_from or 'a slot'}"))
    if production.deployment and production.deployment.finished_at:
        candidates.append((production.deployment.finished_at, f"deployment {production.deployment.id}"))
    return max(candidates, key=lambda item: item[0]) if candidates else (None, "")


async def _swapped_already(ctx: StepContext[Params], production: SlotInfo, asked_at: str | None) -> Release | None:
    """Does the live system show that the swap happened? The release production runs now, or None."""
    params = ctx.params
    probe = await health.probe(ctx.services.http, _url(production, params.health_path), params.health_timeout)
    now_running = production.release(probe.version)
    previous = Release.from_data(ctx.data.get("previous_release"))
    broken = Release.from_data(ctx.data.get("production_release"))
    if same_release(now_running, previous) and same_release(previous, broken) is False:
        return now_running
    if asked_at and production.last_swap_at and production.last_swap_at >= (
            datetime.fromisoformat(asked_at) - timedelta(seconds=5)):
        return now_running  # the slot swap history shows a swap completed since it was asked for
    return None


async def describe(ctx: StepContext[Params]) -> Change | NoChange:
    previous = Release.from_data(ctx.data.get("previous_release"))
    broken = Release.from_data(ctx.data.get("production_release"))
    if not _just_prechecked(ctx):  # brought back later (a redelivery): ask the live system first
        site = _site(ctx)
        production = await ctx.services.app_service(site.subscription).slot_info(site, PRODUCTION)
        if await _swapped_already(ctx, production, None):
            ctx.data["production_host"] = production.host
            return NoChange(f"production already runs the previous release ({previous.label()}); not swapping "
                            f"again")
    return Change(f"swap {ctx.params.slot} ({previous.label()}) into production ({broken.label()})")


async def execute(ctx: StepContext[Params]) -> str:
    params = ctx.params
    swap: dict[str, Any] = ctx.data.get("swap") or {}
    if swap.get("state") == "accepted":
        return await _follow(ctx, swap)
    site = _site(ctx)
    app_service = ctx.services.app_service(site.subscription)
    now = ctx.now()
    if swap.get("state") == "attempting":
        production = await app_service.slot_info(site, PRODUCTION)
        age = (now - datetime.fromisoformat(swap["at"])).total_seconds()
        if await _swapped_already(ctx, production, swap["at"]):
            return _done(ctx, production, "the swap an earlier run asked for happened; not swapping again")
        if age < params.inflight_window:
            raise Waiting(f"an earlier run asked Azure to swap {age:.0f} s ago and did not record the answer; "
                          f"checking whether that swap happened before asking again",
                          delay=min(params.poll_interval, params.inflight_window - age), topic="unanswered swap",
                          notable=True)
    elif swap.get("state") == "refused":  # asked again after a 409: production may have changed meanwhile
        production = await app_service.slot_info(site, PRODUCTION)
        if await _swapped_already(ctx, production, None):
            return _done(ctx, production, "production already runs the previous release; not swapping again")

    conflict_since = swap.get("conflict_since")
    ctx.data["swap"] = {"state": "attempting", "at": now.isoformat(), "conflict_since": conflict_since}
    await ctx.checkpoint()  # another run of this incident now waits instead of asking too
    try:
        operation = await app_service.start_swap_into_production(site, params.slot)
    except AzureConflict as conflict:
        raise _refused(ctx, conflict_since or now.isoformat(), str(conflict)) from None
    ctx.data["swap"] = {"state": "accepted", "at": now.isoformat(), "operation": operation.to_data()}
    await ctx.checkpoint()
    return await _follow(ctx, ctx.data["swap"])


def _just_prechecked(ctx: StepContext[Params]) -> bool:
    """The precheck read the slots a moment ago (this step has asked Azure for nothing yet): no need to ask
    production again what it runs."""
    prechecked = ctx.data.get("prechecked_at")
    return bool(prechecked) and (ctx.now() - datetime.fromisoformat(prechecked)).total_seconds() < 10


def _refused(ctx: StepContext[Params], since: str, reason: str) -> Exception:
    """App Service refused the swap because another operation holds the site: ask again later, for a while."""
    params = ctx.params
    waited = (ctx.now() - datetime.fromisoformat(since)).total_seconds()
    if waited > params.conflict_timeout:
        return Escalate(f"App Service kept refusing the swap for {waited / 60:.0f} min because another operation "
                        f"runs on the site; last answer: {reason}")
    ctx.data["swap"] = {"state": "refused", "conflict_since": since, "reason": reason}
    return Waiting(f"App Service refused the swap, another operation runs on the site: {reason}; asking again",
                   delay=params.conflict_interval, topic="site busy", notable=True)


async def _follow(ctx: StepContext[Params], swap: dict[str, Any]) -> str:
    """Read the accepted swap's status once: done, failed, or come back later."""
    params = ctx.params
    site = _site(ctx)
    app_service = ctx.services.app_service(site.subscription)
    operation = Operation.from_data(swap["operation"])
    running_for = (ctx.now() - datetime.fromisoformat(swap["at"])).total_seconds()
    what = f"the swap of {site.name}/{params.slot} into production"
    if operation.how == "none":  # Azure gave nothing to poll: the slots themselves tell when it is done
        production = await app_service.slot_info(site, PRODUCTION)
        if await _swapped_already(ctx, production, swap["at"]):
            return _done(ctx, production, f"swapped {params.slot} into production in {running_for:.1f} s")
        return _still_running(ctx, running_for, "Azure answered without a status URL; watching the slots", None)
    status = await app_service.operation_status(operation, what)
    if status.state == "running":
        if status.operation is not None:
            ctx.data["swap"] = swap | {"operation": status.operation.to_data()}
        return _still_running(ctx, running_for, f"{what} is running in Azure", status.retry_after)
    if status.state == "failed":
        if status.http_status == 409:  # refused once it reached the site: ask again, as for a 409 at the start
            raise _refused(ctx, swap.get("conflict_since") or swap["at"], status.reason)
        raise AzureOperationFailed(f"{what} failed in Azure: {status.reason}", status.code)
    production = await app_service.slot_info(site, PRODUCTION)
    return _done(ctx, production, f"swapped {params.slot} into production in {running_for:.1f} s")


def _still_running(ctx: StepContext[Params], running_for: float, what: str, retry_after: float | None) -> str:
    params = ctx.params
    if running_for > params.swap_timeout:
        raise Escalate(f"{what}, still not finished after {running_for / 60:.0f} min: a person must look at it "
                       f"before anything else acts on the app")
    delay = min(retry_after or params.poll_interval, 30.0)
    raise Waiting(f"{what} ({running_for:.0f} s so far)", delay=delay, topic="swap running")


def _done(ctx: StepContext[Params], production: SlotInfo, what: str) -> str:
    ctx.data["swap"] = (ctx.data.get("swap") or {}) | {"state": "done"}
    ctx.data["swapped_at"] = ctx.now().isoformat()
    ctx.data["production_host"] = production.host
    broken = Release.from_data(ctx.data.get("production_release"))
    previous = Release.from_data(ctx.data.get("previous_release"))
    return f"{what}; production now runs {previous.label()} (was {broken.label()})"


async def verify(ctx: StepContext[Params]) -> str:
    params = ctx.params
    host = ctx.data.get("production_host")
    if not host:
        site = _site(ctx)
        host = (await ctx.services.app_service(site.subscription).slot_info(site, PRODUCTION)).host
        ctx.data["production_host"] = host
    healthy, seen, last = await prove_healthy(
        ctx, "verify", f"https://{host}{params.health_path}", window=params.verify_window,
        interval=params.verify_interval, successes=params.verify_successes, timeout=params.health_timeout)
    broken = Release.from_data(ctx.data.get("production_release"))
    if not healthy:
        raise Escalate(f"production is still unhealthy after the swap-back ({seen}); not swapping again, which "
                       f"would put {broken.label()} back into production: a person must decide (redeploy a "
                       f"previous version?)")
    previous = Release.from_data(ctx.data.get("previous_release"))
    if previous.version and last.version and last.version != previous.version:
        raise Escalate(f"production is healthy but reports version {last.version}, not the previous release "
                       f"{previous.version}: something else changed production meanwhile; a person must look")
    return f"production healthy on {previous.label()}: {seen}"
