"""A Slack incoming webhook (`https://hooks.slack.com/services/T.../B.../<secret>`) as the receiver of the
responder's notices. It answers as Slack does, in **plain text**:

  * `200 ok` for a delivered message (`{"text": <fallback>, "blocks": [...]}` as JSON, or the same JSON in a
    form-encoded `payload=` field);
  * `400 invalid_payload` (not JSON, not an object), `400 no_text`, `400 invalid_blocks` /
    `invalid_blocks_format` (blocks Slack would not render: unknown types, a section text over 3,000
    characters, more than 50 blocks), `403 invalid_token` (a wrong or revoked secret), `404 no_service` (no
    such webhook), `404 channel_not_found`, `410 channel_is_archived`: 4xx are never worth retrying;
  * `429 rate_limited` with `Retry-After` beyond `per_second` (1) messages a second per webhook.

Strict choice: `text` is required even with `blocks` (Slack accepts blocks alone, but then notifications and
screen readers show nothing: the text fallback is what the issue asks for), so a message without it is
`400 no_text`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from local.emulator.clock import Clock
from local.emulator.receivers import Receiver, Webhook
from local.emulator.server import Recorder, Request, Response

TEAM = "T0EMULATOR"
BLOCKS = {"section", "header", "context", "divider", "actions", "image", "rich_text", "markdown", "input",
          "file", "video"}
STATES = {"active": None, "archived": (410, "channel_is_archived"), "channel_not_found": (404, "channel_not_found"),
          "revoked": (403, "invalid_token"), "prohibited": (403, "action_prohibited")}


def _text(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body.encode(), {"Content-Type": "text/html", **(headers or {})})


def block_problems(blocks: Any) -> tuple[str, str] | None:
    """(error, why) when `blocks` is not something Slack renders; None when it is."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format", "blocks must be an array"
    if len(blocks) > 50:
        return "invalid_blocks", f"{len(blocks)} blocks; Slack takes at most 50"
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCKS:
            return "invalid_blocks", f"blocks[{index}].type {kind!r} is not a block type"
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                return "invalid_blocks", f"blocks[{index}]: a section needs text or fields"
            for item, limit in [(text, 3000)] + [(f, 2000) for f in fields or []]:
                if item is not None and not _text_object(item, limit):
                    return "invalid_blocks", f"blocks[{index}]: a text object of at most {limit} characters"
            if fields is not None and (not isinstance(fields, list) or len(fields) > 10):
                return "invalid_blocks", f"blocks[{index}].fields: at most 10"
        if kind == "header" and not (_text_object(block.get("text"), 150)
                                     and block["text"].get("type") == "plain_text"):
            return "invalid_blocks", f"blocks[{index}]: a header's text is plain_text of at most 150 characters"
        if kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return "invalid_blocks", f"blocks[{index}]: a context has 1 to 10 elements"
        if kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                return "invalid_blocks", f"blocks[{index}]: actions have 1 to 25 elements"
        if "block_id" in block and (not isinstance(block["block_id"], str) or len(block["block_id"]) > 255):
            return "invalid_blocks", f"blocks[{index}].block_id: a string of at most 255 characters"
    return None


def _text_object(item: Any, limit: int) -> bool:
    return (isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text")
            and isinstance(item.get("text"), str) and 0 < len(item["text"]) <= limit)


class SlackWebhooks(Receiver):
    server_name = "slack"

    def __init__(self, clock: Clock, recorder: Recorder, per_second: float = 1, retry_after: str = "1"):
        super().__init__(clock, recorder, per_second)
        self.retry_after = retry_after
        self._secrets: dict[str, str] = {}

    def add_webhook(self, name: str, state: str = "active") -> str:
        """An incoming webhook for the channel `name`; returns its URL (the last path part is the secret)."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r} (known: {', '.join(STATES)})")
        bot, secret = f"B{secrets.token_hex(5).upper()}", secrets.token_urlsafe(18)
        with self.lock:
            self.webhooks[name] = Webhook(name, f"/services/{TEAM}/{bot}/{secret}", state)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.base_url}{self.webhooks[name].path}"

    def set_state(self, name: str, state: str) -> None:
        """The channel is archived, deleted (`channel_not_found`), the webhook revoked, ... from now on."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        self.webhooks[name].state = state

    def _failure(self, status: int) -> tuple[Any, dict[str, str]]:
        words = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway", 503: "service_unavailable",
                 504: "request_timeout", 400: "invalid_payload", 403: "invalid_token", 404: "no_service"}
        return words.get(status, "internal_error").encode(), {"Content-Type": "text/html"}

    def route(self, request: Request) -> Response:
        parts = request.path.split("/")
        if len(parts) != 5 or parts[1] != "services":
            return _text(404, "no_service")
        prefix = "/".join(parts[:4]) + "/"
        hook = next((h for h in self.webhooks.values() if h.path.startswith(prefix)), None)
        if hook is None:
            return _text(404, "no_service")
        if not secrets.compare_digest(hook.path, request.path):
            return _text(403, "invalid_token")
        if request.method != "POST":
            return _text(405, "invalid_method")
        if self._throttled(hook):
            return _text(429, "rate_limited", {"Retry-After": self.retry_after})
        refusal = STATES[hook.state]
        if refusal:
            return _text(*refusal)
        payload = self._payload(request)
        if not isinstance(payload, dict):
            return _text(400, "invalid_payload")
        if not isinstance(payload.get("text"), str) or not payload["text"].strip():
            return _text(400, "no_text")
        if "blocks" in payload:
            problem = block_problems(payload["blocks"])
            if problem:
                return _text(400, problem[0])
        self._deliver(hook, payload)
        return _text(200, "ok")

    @staticmethod
    def _payload(request: Request) -> Any:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                return json.loads(request.raw)
            if content_type == "application/x-www-form-urlencoded":
                return json.loads(parse_qs(request.raw.decode())["payload"][0])
        except (ValueError, KeyError, UnicodeDecodeError):
            return None
        return None
