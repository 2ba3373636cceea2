"""Health checks over HTTPS (httpx): one probe, a check with retries, and a watch over a time window."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

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
    """GET the health URL once: healthy means a 2xx answer within `timeout`."""
    import httpx

    started = time.perf_counter()
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.TimeoutException:
        return Probe(url, False, None, _ms(started), f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return Probe(url, False, None, _ms(started), f"unreachable ({type(error).__name__}: {error})")
    version = None
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
            version = body.get("version") if isinstance(body, dict) else None
        except ValueError:
            pass
    return Probe(url, response.is_success, response.status_code, _ms(started), response.reason_phrase, version)


async def check(client: httpx.AsyncClient, url: str, attempts: int, interval: float, timeout: float) -> Probe:
    """Up to `attempts` probes, `interval` apart; the first healthy one wins, else the last one is returned."""
    result = await probe(client, url, timeout)
    for _ in range(attempts - 1):
        if result.healthy:
            break
        await asyncio.sleep(interval)
        result = await probe(client, url, timeout)
    return result


@dataclass(frozen=True)
class Watch:
    healthy: bool
    probes: int
    consecutive: int
    last: Probe
    seconds: float

    def describe(self) -> str:
        return (f"{self.consecutive} consecutive healthy answers, {self.probes} probes over {self.seconds:.1f} s; "
                f"last: {self.last.describe()}")


async def watch(client: httpx.AsyncClient, url: str, *, window: float, interval: float, successes: int,
                timeout: float, heartbeat: Callable[[], Awaitable[None]] | None = None) -> Watch:
    """Probe until `successes` consecutive healthy answers (healthy) or until `window` seconds pass (not)."""
    started = time.monotonic()
    count = consecutive = 0
    while True:
        last = await probe(client, url, timeout)
        count += 1
        consecutive = consecutive + 1 if last.healthy else 0
        elapsed = time.monotonic() - started
        if consecutive >= successes:
            return Watch(True, count, consecutive, last, elapsed)
        if elapsed + interval > window:
            return Watch(False, count, consecutive, last, elapsed)
        if heartbeat is not None:
            await heartbeat()
        await asyncio.sleep(interval)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
