"""A clock a test moves: the app's services read time from it (`Services(clock=..., sleep=...)`), so a 30-minute
approval window or a 30-second verification passes in no real time, and every wait in place moves it on."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)

    async def sleep(self, seconds: float) -> None:
        """What the services wait with: time moves on at once (a real zero-length sleep lets others run)."""
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)
