"""The contract between the executor and the responders.

A responder is a module in responders/ with a `KIND` (shared.decide.plan.StepKind) and three coroutines:
    precheck(ctx) -> str   read-only: is it safe and useful to act? raise Escalate if not
    execute(ctx)  -> str   the side effect; must ask the live system first whether it is already done,
                           and must honour ctx.dry_run (report what it would do, change nothing)
    verify(ctx)   -> str   did it work? raise Escalate if not
Each returns the detail line that goes on the incident timeline. What a later phase (or a retry after a
crash) must know goes into `ctx.data`, saved with the step's progress record.

No phase waits for long: to wait for something under way (an Azure operation, a health window) a phase raises
Waiting(delay) and is called again later, in this invocation or the next one, with `ctx.data` as it left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters import health
from shared.errors import Waiting
from shared.decide.plan import PlannedStep, StepKind

if TYPE_CHECKING:
    from shared.store.guards import Lease
    from shared.store.incidents import Incident, StepProgress
    from shared.services import Services


class Responder(Protocol):
    KIND: StepKind

    async def precheck(self, ctx: StepContext) -> str: ...

    async def execute(self, ctx: StepContext) -> str: ...

    async def verify(self, ctx: StepContext) -> str: ...


@dataclass
class StepContext:
    services: Services
    incident: Incident
    step: PlannedStep
    index: int
    params: Any
    progress: StepProgress
    lease: Lease | None = None
    _last_beat: datetime | None = field(default=None)

    @property
    def dry_run(self) -> bool:
        return self.step.guards.dry_run

    @property
    def data(self) -> dict[str, Any]:
        return self.progress.data

    @property
    def label(self) -> str:
        return f"{self.step.kind}[{self.index}]"

    def now(self) -> datetime:
        return self.services.clock()

    async def note(self, outcome: str, detail: str = "", duration: float | None = None) -> None:
        await self.services.store.append(self.incident.id, self.label, outcome, detail, duration)

    async def checkpoint(self) -> None:
        """Save ctx.data now, before a side effect, so a retry after a crash knows it was attempted."""
        self.progress = await self.services.store.save_step(self.incident.id, self.progress)

    async def heartbeat(self) -> None:
        """Call during waits: keeps this incident's lease on the target (a lost lease raises LeaseHeld) and shows
        the reconciler that the incident is alive."""
        if self.lease is None:
            return
        duration = self.services.settings.lease_duration
        now = self.now()
        if self._last_beat is None or (now - self._last_beat) >= duration / 3:
            self.lease = await self.services.guards.renew_lease(self.lease, duration)
            await self.services.store.update(self.incident.id, lambda incident: incident)  # the reconciler sees it moving
            self._last_beat = now


async def prove_healthy(ctx: StepContext, key: str, url: str, *, window: float, interval: float, successes: int,
                        timeout: float) -> tuple[bool, str, health.Probe]:
    """One probe of a verification window kept in `ctx.data[key]`: raises Waiting until the window decides,
    then returns (healthy, what was seen, the last probe)."""
    state = ctx.data.get(key)
    verification = health.Window.from_data(state) if state else health.Window(ctx.now())
    result = await health.probe(ctx.services.http, url, timeout)
    verification.record(result)
    ctx.data[key] = verification.to_data()
    now = ctx.now()
    verdict = verification.verdict(now, window=window, interval=interval, successes=successes)
    if verdict == "wait":
        raise Waiting(f"verifying {url}: {verification.describe(now)}", delay=interval)
    return verdict == "healthy", verification.describe(now), result
