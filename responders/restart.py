"""restart: restart an App Service (or one of its slots) and prove it healthy afterwards.

The runbook restarts the backend after a cache flush ("to clear in-memory state") and after switching the
database secret. The restart is asked for asynchronously (App Service answers at once) and the verification
waits for the app: no invocation blocks while it restarts. A retry after a crash does not restart a second time
within `inflight_window`; a 409 (another operation holds the site) is waited out and asked again.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.appservice import PRODUCTION, SiteRef
from shared.errors import AzureConflict, Escalate, Waiting
from shared.decide.plan import StepKind
from responders.verification import prove_healthy
from shared.run.step import Change, StepContext


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    slot: str = Field(default=PRODUCTION, description="production, or a slot name.")
    soft: bool = Field(default=False, description="Soft restart: recycle the worker process only.")
    health_path: str = Field(default="/health", pattern=r"^/")
    health_timeout: float = Field(default=5.0, gt=0)
    verify_after: float = Field(default=15.0, ge=0, description="Seconds after the restart request before the "
                                "first verification probe, so the old process answering before it stops is not "
                                "taken for the new one.")
    verify_window: float = Field(default=120.0, gt=0, description="Seconds the app has to become healthy again.")
    verify_interval: float = Field(default=5.0, ge=0)
    verify_successes: int = Field(default=3, ge=1)
    inflight_window: float = Field(default=120.0, gt=0, description="After a crash, a restart requested this "
                                   "recently is not requested again.")
    conflict_timeout: float = Field(default=900.0, gt=0, description="How long to keep asking while App Service "
                                    "refuses because another operation runs on the site.")
    conflict_interval: float = Field(default=15.0, gt=0, le=300, description="Seconds between those asks.")


KIND = StepKind(
    name="restart", params=Params, expected_seconds=60, target_type="Microsoft.Web/sites",
    component="backend", api_params=frozenset({"slot", "soft"}),
    description="Restart the App Service (or a slot), verified by its health endpoint.",
)


def _site(ctx: StepContext[Params]) -> SiteRef:
    return SiteRef.parse(ctx.step.target)


async def precheck(ctx: StepContext[Params]) -> str:
    site = _site(ctx)
    info = await ctx.services.app_service(site.subscription).slot_info(site, ctx.params.slot)
    ctx.data["host"] = info.host
    return f"{site.name}/{ctx.params.slot} is {info.state or 'in an unknown state'}, host {info.host}"


def _what(params: Params) -> str:
    return "soft restart" if params.soft else "restart"


async def describe(ctx: StepContext[Params]) -> Change:
    return Change(f"{_what(ctx.params)} {_site(ctx).name}/{ctx.params.slot}")


async def execute(ctx: StepContext[Params]) -> str:
    params = ctx.params
    site = _site(ctx)
    now = ctx.now()
    requested = ctx.data.get("restart_requested_at")
    if requested and (now - datetime.fromisoformat(requested)).total_seconds() < params.inflight_window:
        return f"a restart was requested at {requested} by an earlier run; not restarting again"
    kind = _what(params)
    try:
        await ctx.services.app_service(site.subscription).restart(site, params.slot, soft=params.soft)
    except AzureConflict as conflict:
        since = ctx.data.setdefault("conflict_since", now.isoformat())
        waited = (now - datetime.fromisoformat(since)).total_seconds()
        if waited > params.conflict_timeout:
            raise Escalate(f"App Service kept refusing the {kind} for {waited / 60:.0f} min because another "
                           f"operation runs on the site; last answer: {conflict}") from None
        raise Waiting(f"App Service refused the {kind}, another operation runs on the site: {conflict}",
                      delay=params.conflict_interval, topic="site busy", notable=True) from None
    ctx.data["restart_requested_at"] = now.isoformat()
    await ctx.checkpoint()  # recorded once App Service accepted it: a crash from here on does not restart twice
    return f"{kind} of {site.name}/{params.slot} requested"


async def verify(ctx: StepContext[Params]) -> str:
    params = ctx.params
    requested = ctx.data.get("restart_requested_at")
    if requested and "verify" not in ctx.data:
        settle = params.verify_after - (ctx.now() - datetime.fromisoformat(requested)).total_seconds()
        if settle > 0:
            raise Waiting(f"giving {_site(ctx).name}/{params.slot} {params.verify_after:g} s to restart before "
                          f"verifying", delay=settle, topic="restart settling")
    healthy, seen, _ = await prove_healthy(
        ctx, "verify", f"https://{ctx.data['host']}{params.health_path}", window=params.verify_window,
        interval=params.verify_interval, successes=params.verify_successes, timeout=params.health_timeout)
    if not healthy:
        raise Escalate(f"{_site(ctx).name}/{params.slot} is not healthy after the restart ({seen})")
    return f"healthy after the restart: {seen}"
