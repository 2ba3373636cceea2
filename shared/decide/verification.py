"""The window in which an app must prove itself healthy: `successes` consecutive healthy answers within
`window` seconds of the first probe. Pure bookkeeping, kept as data in the step's record between invocations
(the probes themselves are shared/adapters/health.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Verdict = Literal["healthy", "unhealthy", "wait"]


class Answer(Protocol):
    healthy: bool

    def describe(self) -> str: ...


@dataclass
class Window:
    """`successes` consecutive healthy answers within `window` seconds of the first probe, probes `interval`
    apart. Kept as data between invocations (`to_data` / `from_data`)."""

    started_at: datetime
    probes: int = 0
    consecutive: int = 0
    last: str = ""

    def record(self, result: Answer) -> None:
        self.probes += 1
        self.consecutive = self.consecutive + 1 if result.healthy else 0
        self.last = result.describe()

    def verdict(self, now: datetime, *, window: float, interval: float, successes: int) -> Verdict:
        if self.consecutive >= successes:
            return "healthy"
        if (now - self.started_at).total_seconds() + interval > window:
            return "unhealthy"
        return "wait"

    def describe(self, now: datetime) -> str:
        seconds = (now - self.started_at).total_seconds()
        return (f"{self.consecutive} consecutive healthy answers, {self.probes} probes over {seconds:.1f} s; "
                f"last: {self.last}")

    def to_data(self) -> dict[str, Any]:
        return asdict(self) | {"started_at": self.started_at.isoformat()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Window:
        return cls(datetime.fromisoformat(data["started_at"]), int(data.get("probes", 0)),
                   int(data.get("consecutive", 0)), str(data.get("last", "")))


