"""Health checks over HTTPS (httpx): one probe, one request bounded by its timeout. (The window in which an app
must prove itself healthy is shared/decide/verification.py; the responders' helper is responders/verification.py.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
