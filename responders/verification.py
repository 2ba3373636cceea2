"""What responders share to prove their work: a health window over the step's target, one probe per call."""

from __future__ import annotations

from typing import Any

from shared.adapters import health
from shared.decide.verification import Window
from shared.errors import Waiting
from shared.run.step import StepContext


async def prove_healthy(ctx: StepContext[Any], key: str, url: str, *, window: float, interval: float,
                        successes: int, timeout: float) -> tuple[bool, str, health.Probe]:
    """One probe of a verification window kept in `ctx.data[key]`: raises Waiting until the window decides,
    then returns (healthy, what was seen, the last probe)."""
    state = ctx.data.get(key)
    verification = Window.from_data(state) if state else Window(ctx.now())
    result = await health.probe(ctx.services.http, url, timeout)
    verification.record(result)
    ctx.data[key] = verification.to_data()
    now = ctx.now()
    verdict = verification.verdict(now, window=window, interval=interval, successes=successes)
    if verdict == "wait":
        raise Waiting(f"verifying {url}: {verification.describe(now)}", delay=interval, topic=f"verifying {url}")
    return verdict == "healthy", verification.describe(now), result
