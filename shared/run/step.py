"""The contract between the executor and the responders.

A responder is a module in responders/ with a `KIND` (shared.decide.plan.StepKind: its stable id, its
parameters' type, its runbook facts) and four coroutines, each given the step's context (`ctx.params` is the
validated parameters, typed as the responder's `Params`):

    precheck(ctx) -> str              read-only: is it safe and useful to act? raise Escalate if not
    describe(ctx) -> Change | NoChange
                                      read-only: what `execute` would change, asking the live system (NoChange:
                                      it is already as wanted, with the reason)
    execute(ctx)  -> str              make the change (only called when there is one, and never in a dry run)
    verify(ctx)   -> str              did it work? raise Escalate if not

Each returns the detail line that goes on the timeline. The executor decides what is done with a described
change: applied, rendered for a dry run ("would ..."), or recorded as skipped with the reason; a responder never
looks at dry_run itself. What a later phase (or a retry after a crash) must know goes into `ctx.data`, saved
with the step's progress record.

A phase that must not go on without a person calls `ctx.require_approval(name, request)`: the incident waits
in awaiting_approval with the request, and the phase is called again once it is approved.

No phase waits for long: to wait for something under way (an Azure operation, a health window) a phase raises
Waiting(delay) and is called again later, in this invocation or the next one, with `ctx.data` as it left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Generic, Mapping, Protocol, TypeVar

from shared.decide.plan import PlannedStep, StepKind

if TYPE_CHECKING:
    from shared.decide.incident import Incident, StepProgress
    from shared.services import Services
    from shared.store.guards import Lease

P = TypeVar("P")


@dataclass(frozen=True)
class Change:
    """What executing the step would change, in a line a person reads (`swap staging (v1.2.2) into ...`)."""

    summary: str


@dataclass(frozen=True)
class NoChange:
    """Nothing needs changing: the target is already as the step wants it (the reason goes on the timeline)."""

    reason: str


class Responder(Protocol):
    KIND: StepKind

    async def precheck(self, ctx: StepContext[Any]) -> str: ...

    async def describe(self, ctx: StepContext[Any]) -> Change | NoChange: ...

    async def execute(self, ctx: StepContext[Any]) -> str: ...

    async def verify(self, ctx: StepContext[Any]) -> str: ...


def registry(*modules: ModuleType) -> Mapping[str, Responder]:
    """The responders by id, each id written once (its KIND.name). Two responders with one id are refused when
    the registry is built (at import), not discovered when an incident stored with that id runs."""
    found: dict[str, Responder] = {}
    for module in modules:
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, StepKind):
            raise TypeError(f"{module.__name__} has no KIND (a shared.decide.plan.StepKind)")
        missing = [phase for phase in ("precheck", "describe", "execute", "verify") if not hasattr(module, phase)]
        if missing:
            raise TypeError(f"responder {kind.name!r} ({module.__name__}) lacks {', '.join(missing)}")
        if kind.name in found:
            raise ValueError(f"responder id {kind.name!r} is used twice: {found[kind.name].__name__} and "
                             f"{module.__name__}")
        found[kind.name] = module  # type: ignore[assignment]
    return MappingProxyType(found)


def kinds_of(responders: Mapping[str, Responder]) -> Mapping[str, StepKind]:
    return MappingProxyType({name: responder.KIND for name, responder in responders.items()})


@dataclass
class StepContext(Generic[P]):
    services: Services
    incident: Incident
    step: PlannedStep
    index: int
    params: P
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

    def approved(self, name: str) -> bool:
        """Whether this step's gate `name` has been approved (by as many people as it asked for)."""
        return f"{self.index}:{name}" in self.incident.passed_gates

    def require_approval(self, name: str, request: str, approvers: int = 1, destructive: bool = True) -> None:
        """Stop here until people approve `request` (what will happen, what is lost): the incident waits in
        awaiting_approval and the step is called again, from its saved phase, once approved. Call it where the
        step must not go on without a person; once approved it returns at once, on every later call."""
        if not self.approved(name):
            from shared.errors import ApprovalNeeded

            raise ApprovalNeeded(f"{self.index}:{name}", request, approvers, destructive)

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
