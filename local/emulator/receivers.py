"""What the notification receivers (Teams Workflows, Slack incoming webhooks) share: the webhooks they own,
what they delivered, a per-webhook rate window on the emulator's clock, and the faults a test injects.

A receiver keeps two logs: `messages` (what it delivered to the channel: the thing a person would see) and
`attempts(webhook)` (every request that reached the webhook, with the status it was answered, None if it was
never answered). A test that checks exactly-once delivery counts `messages`; one that checks retries counts
attempts. Faults go through the emulator's `Fault` mechanism:

    receiver.fail(webhook, times=2, status=500)   # the next two posts get 500 (nothing delivered)
    receiver.hang(webhook, delivered=True)         # the next post is delivered and never answered
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local.emulator.clock import Clock
from local.emulator.server import Fault, Recorder, Request


@dataclass
class Message:
    """A message the receiver delivered to its channel."""

    webhook: str
    time: float
    payload: Any


@dataclass
class Webhook:
    name: str
    path: str
    state: str = "active"  # receiver-specific states (Slack: archived, channel_not_found, revoked)
    arrivals: deque[float] = field(default_factory=deque)


class Receiver:
    """Base of the webhook receivers: one HTTPS server (`server_name`) serving many webhooks."""

    server_name = "receiver"

    def __init__(self, clock: Clock, recorder: Recorder, per_second: float):
        self.clock = clock
        self.recorder = recorder
        self.per_second = per_second
        self.port = 0
        self.webhooks: dict[str, Webhook] = {}
        self.messages: list[Message] = []
        self.lock = threading.RLock()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def delivered(self, webhook: str | None = None) -> list[Any]:
        """The payloads delivered (to one webhook, or to all), oldest first."""
        with self.lock:
            return [m.payload for m in self.messages if webhook is None or m.webhook == webhook]

    def attempts(self, webhook: str) -> list[Request]:
        """Every request that reached `webhook`, oldest first; `answered` is the status it got (None: never)."""
        path = self.webhooks[webhook].path
        return [r for r in self.recorder.matching("POST", f"^{re.escape(path)}$", server=self.server_name)]

    def fail(self, webhook: str, *, times: int | None = 1, status: int = 500, body: Any = None,
             headers: dict[str, str] | None = None) -> Fault:
        """The next `times` posts to `webhook` are answered `status` and delivered nowhere."""
        default_body, default_headers = self._failure(status)
        fault = Fault(self._pattern(webhook), status=status, body=body if body is not None else default_body,
                      headers={**default_headers, **(headers or {})}, times=times, server=self.server_name)
        self.recorder.faults.append(fault)
        return fault

    def hang(self, webhook: str, *, times: int | None = 1, delivered: bool = False) -> Fault:
        """The next `times` posts are never answered; `delivered`: the message reaches the channel all the
        same (the answer is what is lost, so a sender that retries posts it twice)."""
        fault = Fault(self._pattern(webhook), hang="after" if delivered else "before", times=times,
                      server=self.server_name)
        self.recorder.faults.append(fault)
        return fault

    # ----- for the subclasses ------------------------------------------------------------------------
    def _pattern(self, webhook: str) -> str:
        return f"^POST {re.escape(self.webhooks[webhook].path)}$"

    def _failure(self, status: int) -> tuple[Any, dict[str, str]]:
        raise NotImplementedError

    def _throttled(self, webhook: Webhook) -> bool:
        """More than `per_second` arrivals in the last second (every arrival counts, throttled ones too: a
        sender that keeps hammering stays throttled)."""
        now = self.clock.now()
        with self.lock:
            while webhook.arrivals and webhook.arrivals[0] <= now - 1.0:
                webhook.arrivals.popleft()
            webhook.arrivals.append(now)
            return len(webhook.arrivals) > self.per_second

    def _deliver(self, webhook: Webhook, payload: Any) -> None:
        with self.lock:
            self.messages.append(Message(webhook.name, self.clock.now(), payload))
