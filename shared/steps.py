"""The contract between the executor and the responders.

A responder is a module in responders/ with a `KIND` (shared.plan.StepKind) and three coroutines:
    precheck(ctx) -> str   read-only: is it safe and useful to act? raise Escalate if not
    execute(ctx)  -> str   the side effect; must ask the live system first whether it is already done,
                           and must honour ctx.dry_run (report what it would do, change nothing)
    verify(ctx)   -> str   did it work? raise Escalate if not
Each returns the detail line that goes on the incident timeline. What a later phase (or a retry after a
crash) must know goes into `ctx.data`, saved with the step's progress record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.plan import PlannedStep, StepKind

if TYPE_CHECKING:
    from shared.guards import Lease
    from shared.incidents import Incident, StepProgress
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
    _last_beat: float = field(default_factory=time.monotonic)

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
        """Call during long waits: keeps this run's lease on the target (a lost lease raises LeaseHeld) and
        shows the reconciler that the incident is alive."""
        if self.lease is None:
            return
        duration = self.services.settings.lease_duration
        if time.monotonic() - self._last_beat >= duration.total_seconds() / 3:
            self.lease = await self.services.guards.renew_lease(self.lease, duration)
            await self.services.store.update(self.incident.id, lambda incident: incident)  # the reconciler sees it moving
            self._last_beat = time.monotonic()
