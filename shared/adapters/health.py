"""Health checks over HTTPS (httpx): one probe, and the window in which an app must prove itself healthy.

No function here waits: a probe is one request (bounded by its timeout), and `Window` is the pure bookkeeping of a
verification that goes on across invocations (the step's record keeps it; the executor brings the step back).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # httpx costs ~0.1 s to import; the health checks import it when they first run
    import httpx


@dataclass(frozen=True)
class Probe:
    url: str
    healthy: bool
    status: int | None
    elapsed_ms: int
    detail: str
    version: str | None = None

    def describe(self) -> str:
        answer = f"{self.status}" if self.status is not None else self.detail
        version = f", version {self.version}" if self.version else ""
        return f"{answer} in {self.elapsed_ms} ms{version}"


async def probe(client: httpx.AsyncClient, url: str, timeout: float) -> Probe:
    """GET the health URL once: healthy means a 2xx answer within `timeout`. The version is read from a JSON
    body whatever the status (a failing release usually still says which it is)."""
    import httpx

    started = time.perf_counter()
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.TimeoutException:
        return Probe(url, False, None, _ms(started), f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return Probe(url, False, None, _ms(started), f"unreachable ({type(error).__name__}: {error})")
    version = None
    if "json" in response.headers.get("content-type", "") and len(response.content) <= 64 * 1024:
        try:
            body = response.json()
            found = body.get("version") if isinstance(body, dict) else None
            version = str(found)[:100] if isinstance(found, (str, int, float)) and found != "" else None
        except ValueError:
            pass
    return Probe(url, response.is_success, response.status_code, _ms(started), response.reason_phrase, version)


Verdict = Literal["healthy", "unhealthy", "wait"]


@dataclass
class Window:
    """`successes` consecutive healthy answers within `window` seconds of the first probe, probes `interval`
    apart. Kept as data between invocations (`to_data` / `from_data`)."""

    started_at: datetime
    probes: int = 0
    consecutive: int = 0
    last: str = ""

    def record(self, result: Probe) -> None:
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


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
