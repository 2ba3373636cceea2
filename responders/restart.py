"""restart: restart an App Service (or one of its slots) and prove it healthy afterwards.

The runbook restarts the backend after a cache flush ("to clear in-memory state") and after switching the
database secret. A retry after a crash does not restart a second time within `inflight_window`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared import health
from shared.appservice import PRODUCTION, SiteRef
from shared.errors import Escalate
from shared.plan import StepKind
from shared.steps import StepContext


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    slot: str = Field(default=PRODUCTION, description="production, or a slot name.")
    soft: bool = Field(default=False, description="Soft restart: recycle the worker process only.")
    health_path: str = Field(default="/health", pattern=r"^/")
    health_timeout: float = Field(default=5.0, gt=0)
    verify_window: float = Field(default=120.0, gt=0, description="Seconds the app has to become healthy again.")
    verify_interval: float = Field(default=5.0, ge=0)
    verify_successes: int = Field(default=3, ge=1)
    inflight_window: float = Field(default=120.0, gt=0, description="After a crash, a restart requested this "
                                   "recently is not requested again.")


KIND = StepKind(
    name="restart", params=Params, expected_seconds=60, target_type="Microsoft.Web/sites",
    component="backend", api_params=frozenset({"slot", "soft"}),
    description="Restart the App Service (or a slot), verified by its health endpoint.",
)


def _site(ctx: StepContext) -> SiteRef:
    return SiteRef.parse(ctx.step.target)


async def precheck(ctx: StepContext) -> str:
    site = _site(ctx)
    info = await ctx.services.app_service(site.subscription).slot_info(site, ctx.params.slot)
    ctx.data["host"] = info.host
    return f"{site.name}/{ctx.params.slot} is {info.state or 'in an unknown state'}, host {info.host}"


async def execute(ctx: StepContext) -> str:
    params: Params = ctx.params
    site = _site(ctx)
    requested = ctx.data.get("restart_requested_at")
    if requested and (ctx.now() - datetime.fromisoformat(requested)).total_seconds() < params.inflight_window:
        return f"a restart was requested at {requested} by an earlier run; not restarting again"
    kind = "soft restart" if params.soft else "restart"
    if ctx.dry_run:
        return f"dry run: would {kind} {site.name}/{params.slot}; nothing changed"
    ctx.data["restart_requested_at"] = ctx.now().isoformat()
    await ctx.checkpoint()
    await ctx.services.app_service(site.subscription).restart(site, params.slot, soft=params.soft)
    return f"{kind} of {site.name}/{params.slot} done"


async def verify(ctx: StepContext) -> str:
    params: Params = ctx.params
    url = f"https://{ctx.data['host']}{params.health_path}"
    result = await health.watch(ctx.services.http, url, window=params.verify_window, interval=params.verify_interval,
                                successes=params.verify_successes, timeout=params.health_timeout,
                                heartbeat=ctx.heartbeat)
    if not result.healthy:
        raise Escalate(f"{_site(ctx).name}/{params.slot} is not healthy after the restart ({result.describe()})")
    return f"healthy after the restart: {result.describe()}"
