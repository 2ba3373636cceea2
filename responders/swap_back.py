"""swap_back: put the previous release (still in the staging slot) back into production.

Runbook, "Manual Slot Swap Rollback": verify the slots, `az webapp deployment slot swap --slot staging
--target-slot production`, `curl -f .../health`. Refuses (escalates) when staging is unhealthy too, when
production has not changed recently, or when both slots run the same release; never swaps twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import health
from shared.appservice import PRODUCTION, SiteRef, SlotInfo
from shared.durations import format_duration, parse_duration
from shared.errors import Escalate, StepDelayed
from shared.plan import StepKind
from shared.steps import StepContext


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
        default=600.0, gt=0, description="After a crash, how long a requested swap may still be running in "
        "Azure before the responder concludes it never happened.")

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


def _release(info: SlotInfo) -> str:
    """`DOCKER|registry.azurecr.io/backend:v1.2.2` -> `backend:v1.2.2`; other runtimes as they are."""
    if not info.release:
        return "unknown release"
    return info.release.split("|", 1)[-1].rsplit("/", 1)[-1]


async def _slots(ctx: StepContext) -> tuple[SiteRef, SlotInfo, SlotInfo]:
    site = SiteRef.parse(ctx.step.target)
    app_service = ctx.services.app_service(site.subscription)
    production, staging = await asyncio.gather(app_service.slot_info(site, PRODUCTION),
                                               app_service.slot_info(site, ctx.params.slot))
    return site, production, staging


async def precheck(ctx: StepContext) -> str:
    params: Params = ctx.params
    site, production, staging = await _slots(ctx)
    if production.release and production.release == staging.release:
        raise Escalate(f"staging runs the same release as production ({_release(production)}): a swap would "
                       f"change nothing; redeploy a previous version instead")

    probe, (changed_at, how) = await asyncio.gather(
        health.check(ctx.services.http, _url(staging, params.health_path), params.health_attempts,
                     params.health_interval, params.health_timeout),
        _last_change(ctx, site, production))
    if not probe.healthy:
        raise Escalate(f"staging slot is also problematic ({params.health_path} answered {probe.describe()} "
                       f"after {params.health_attempts} attempts): redeploy a previous version instead of swapping")

    now = ctx.now()
    if changed_at is None or now - changed_at > params.recent_change_window:
        when = f"since {changed_at:%Y-%m-%d %H:%M}Z" if changed_at else "in its recorded history"
        raise Escalate(f"production has not changed {when} (window {format_duration(params.recent_change_window)})"
                       f": the failure is probably not the latest release, so swapping back is not the fix")

    ctx.data.update(production_release=production.release, previous_release=staging.release,
                    last_swap_at=production.last_swap_at.isoformat() if production.last_swap_at else None)
    age = format_duration(timedelta(seconds=int((now - changed_at).total_seconds())))
    return (f"staging ({_release(staging)}) is healthy: {probe.describe()}; production ({_release(production)}) "
            f"changed {age} ago by {how}")


async def _last_change(ctx: StepContext, site: SiteRef, production: SlotInfo) -> tuple[datetime | None, str]:
    deployment = await ctx.services.app_service(site.subscription).latest_deployment(site, PRODUCTION)
    candidates = []
    if production.last_swap_at:
        candidates.append((production.last_swap_at, f"a swap from {production.last_swap_from or 'a slot'}"))
    if deployment and deployment.finished_at:
        candidates.append((deployment.finished_at, f"deployment {deployment.id}"))
    return max(candidates, key=lambda item: item[0]) if candidates else (None, "")


def _swapped_since_request(ctx: StepContext, production: SlotInfo) -> bool:
    """Does the live system show that our swap already happened?"""
    previous, broken = ctx.data.get("previous_release"), ctx.data.get("production_release")
    if previous and broken and previous != broken:
        return production.release == previous
    requested = ctx.data.get("swap_requested_at")
    return bool(requested and production.last_swap_at
                and production.last_swap_at >= datetime.fromisoformat(requested) - timedelta(seconds=5))


async def execute(ctx: StepContext) -> str:
    params: Params = ctx.params
    site, production, staging = await _slots(ctx)
    if _swapped_since_request(ctx, production):
        return (f"production already runs {_release(production)} (the previous release): the swap happened "
                f"before; not swapping again")
    requested = ctx.data.get("swap_requested_at")
    if requested:
        age = (ctx.now() - datetime.fromisoformat(requested)).total_seconds()
        if age < params.inflight_window:
            raise StepDelayed(f"a swap requested {age:.0f} s ago may still be running in Azure; production still "
                              f"runs {_release(production)}; checking again shortly",
                              delay=min(10.0, params.inflight_window - age + 1))
    if ctx.dry_run:
        return (f"dry run: would swap {params.slot} ({_release(staging)}) into production "
                f"({_release(production)}); nothing changed")

    ctx.data["swap_requested_at"] = ctx.now().isoformat()
    await ctx.checkpoint()
    started = ctx.now()
    lease = ctx.services.settings.lease_duration.total_seconds()
    await ctx.services.app_service(site.subscription).swap_into_production(site, params.slot,
                                                                           heartbeat=ctx.heartbeat,
                                                                           beat_every=lease / 4)
    seconds = (ctx.now() - started).total_seconds()
    after = await ctx.services.app_service(site.subscription).slot_info(site, PRODUCTION)
    ctx.data["swapped_at"] = ctx.now().isoformat()
    return (f"swapped {params.slot} into production in {seconds:.1f} s; production now runs {_release(after)} "
            f"(was {_release(production)})")


async def verify(ctx: StepContext) -> str:
    params: Params = ctx.params
    site = SiteRef.parse(ctx.step.target)
    production = await ctx.services.app_service(site.subscription).slot_info(site, PRODUCTION)
    result = await health.watch(ctx.services.http, _url(production, params.health_path),
                                window=params.verify_window, interval=params.verify_interval,
                                successes=params.verify_successes, timeout=params.health_timeout,
                                heartbeat=ctx.heartbeat)
    if not result.healthy:
        raise Escalate(f"production is still unhealthy after the swap-back ({result.describe()}); not swapping "
                       f"again, which would put {ctx.data.get('production_release') or 'the failing release'} back "
                       f"into production: a person must decide (redeploy a previous version?)")
    return f"production healthy on {_release(production)}: {result.describe()}"
