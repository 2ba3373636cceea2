"""A guard against "never": fail a test whose code does not come back, instead of hanging the whole run.

Not a speed target (those live in bench/). SIGALRM interrupts CPU-bound code too, including a regular
expression stuck in C (the `re` engine checks for signals), which `asyncio.wait_for` cannot: a coroutine that
never yields to the event loop never lets the timeout fire.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class Hung(BaseException):
    """BaseException, so that no `except Exception` on the way (answers_errors, say) turns it into an answer."""


@contextlib.contextmanager
def hang_guard(seconds: float, what: str) -> Iterator[None]:
    def give_up(signum, frame):
        raise Hung(f"{what} did not come back within {seconds} s (a generous guard against a hang, not a target)")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
