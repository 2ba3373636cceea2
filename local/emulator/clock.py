"""The time the emulated services live by: the wall clock, or a clock a test moves by hand.

GitHub runs that take minutes, rate-limit windows and a search index that lags are all measured on one
`Clock`, so a test can walk a workflow run from queued to completed, or make five webhook posts "in the same
second", without sleeping and without depending on how fast the machine is."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    """The wall clock (the default: runs and windows last as long as they say)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until the test moves it (`advance`, `set`)."""

    def __init__(self, start: float | datetime | None = None):
        self._lock = threading.Lock()
        self._now = _epoch(start) if start is not None else float(int(time.time()))

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, moment: float | datetime) -> None:
        with self._lock:
            self._now = _epoch(moment)


def _epoch(moment: float | datetime) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def iso_seconds(epoch: float) -> str:
    """`2026-12-01T22:46:46Z`: GitHub's timestamps, whole seconds in UTC."""
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
