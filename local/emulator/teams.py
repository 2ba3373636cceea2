"""A Microsoft Teams **Workflows** webhook ("When a Teams webhook request is received") as the receiver of the
responder's notices. Office 365 connectors (`webhook.office.com`) are retired; a Workflows URL is a Power
Automate trigger (`.../powerautomate/automations/direct/workflows/<id>/triggers/manual/paths/invoke?
api-version=1&sp=/triggers/manual/run&sv=1.0&sig=<signature>`: the signature is the secret).

It answers as the trigger does:
  * `202` with an **empty body** for an accepted message: delivery to the channel is asynchronous, so any 2xx
    is success and a sender that retries a 202 posts the card twice;
  * `400 InvalidRequestContent` for a body that is not JSON (or not sent as `application/json`);
  * the envelope must be an Adaptive Card message: `{"type": "message", "attachments": [{"contentType":
    "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": {"type": "AdaptiveCard",
    "version": "1.0".."1.4", "body": [...]}}]}`. With `invalid_card="reject"` (the default: the trigger with
    schema validation on) anything else is `400 TriggerInputSchemaMismatch` naming what is wrong; with
    `invalid_card="drop"` (schema validation off, the flow's default) it is `202` and the flow run fails
    afterwards: nothing reaches the channel and the sender never learns it (`failed` records why);
  * a message over `max_bytes` (28 KB, Teams' message limit) is refused the same way (413 / dropped);
  * more than `per_second` (4) posts a second to one workflow: `429` (with `Retry-After` only when
    `retry_after` is set: the docs promise none, so by default a sender must back off on its own);
  * a signature that is missing or wrong: `401`; an unknown workflow: `404`; not POST: `405`.
Adaptive Card versions above 1.4 are refused (the strict reading of the template Teams documents).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from local.emulator.clock import Clock
from local.emulator.receivers import Receiver, Webhook
from local.emulator.server import Recorder, Request, Response

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4"}
ELEMENTS = {"TextBlock", "RichTextBlock", "FactSet", "ColumnSet", "Container", "Image", "ImageSet", "ActionSet",
            "Table"}
ACTIONS = {"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute", "Action.Submit"}
MAX_BYTES = 28 * 1024


@dataclass
class Flow(Webhook):
    signature: str = ""
    failed: list[tuple[Any, str]] = field(default_factory=list)  # (payload, why) of flow runs that failed


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": {"code": code, "message": message}}, headers or {})


def card_problems(payload: Any) -> list[str]:
    """What keeps `payload` from being a Teams Adaptive Card message (empty when it is one)."""
    if not isinstance(payload, dict):
        return ["the body must be a JSON object"]
    problems = []
    if payload.get("type") != "message":
        problems.append(f"type must be 'message', got {payload.get('type')!r}")
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return problems + ["attachments must be a non-empty array"]
    for index, attachment in enumerate(attachments):
        where = f"attachments[{index}]"
        if not isinstance(attachment, dict):
            problems.append(f"{where} must be an object")
            continue
        if attachment.get("contentType") != CARD_TYPE:
            problems.append(f"{where}.contentType must be '{CARD_TYPE}', got {attachment.get('contentType')!r}")
        if attachment.get("contentUrl") is not None:
            problems.append(f"{where}.contentUrl must be null")
        card = attachment.get("content")
        if not isinstance(card, dict):
            problems.append(f"{where}.content must be an Adaptive Card object")
            continue
        if card.get("type") != "AdaptiveCard":
            problems.append(f"{where}.content.type must be 'AdaptiveCard', got {card.get('type')!r}")
        if card.get("version") not in VERSIONS:
            problems.append(f"{where}.content.version must be one of {', '.join(sorted(VERSIONS))}, "
                            f"got {card.get('version')!r}")
        body = card.get("body")
        if not isinstance(body, list) or not body:
            problems.append(f"{where}.content.body must be a non-empty array of elements")
        else:
            problems += _elements(body, f"{where}.content.body")
        problems += _actions(card.get("actions", []), f"{where}.content.actions")
    return problems


def _elements(elements: Any, where: str) -> list[str]:
    if not isinstance(elements, list):
        return [f"{where} must be an array"]
    problems = []
    for index, element in enumerate(elements):
        at = f"{where}[{index}]"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ELEMENTS:
            problems.append(f"{at}.type {kind!r} is not an Adaptive Card element ({', '.join(sorted(ELEMENTS))})")
            continue
        if kind == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append(f"{at}.text must be a string")
        if kind == "FactSet":
            facts = element.get("facts")
            if not isinstance(facts, list) or not all(isinstance(f, dict) and isinstance(f.get("title"), str)
                                                       and isinstance(f.get("value"), str) for f in facts):
                problems.append(f"{at}.facts must be an array of {{title, value}} strings")
        if kind == "Container":
            problems += _elements(element.get("items"), f"{at}.items")
        if kind == "ColumnSet":
            for column_index, column in enumerate(element.get("columns") or []):
                problems += _elements((column or {}).get("items", []), f"{at}.columns[{column_index}].items")
        if kind == "Image" and not isinstance(element.get("url"), str):
            problems.append(f"{at}.url must be a string")
        if kind == "ActionSet":
            problems += _actions(element.get("actions"), f"{at}.actions")
    return problems


def _actions(actions: Any, where: str) -> list[str]:
    if not isinstance(actions, list):
        return [f"{where} must be an array"]
    problems = []
    for index, action in enumerate(actions):
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in ACTIONS:
            problems.append(f"{where}[{index}].type {kind!r} is not an Adaptive Card action")
        elif kind == "Action.OpenUrl" and not isinstance(action.get("url"), str):
            problems.append(f"{where}[{index}].url must be a string")
    return problems


class TeamsWorkflows(Receiver):
    server_name = "teams"

    def __init__(self, clock: Clock, recorder: Recorder, per_second: float = 4,
                 invalid_card: Literal["reject", "drop"] = "reject", retry_after: str | None = None,
                 max_bytes: int = MAX_BYTES):
        super().__init__(clock, recorder, per_second)
        self.invalid_card = invalid_card
        self.retry_after = retry_after
        self.max_bytes = max_bytes

    def add_webhook(self, name: str) -> str:
        """A Workflows webhook; returns its URL (the `sig` in it is the secret a sender must keep)."""
        flow_id = secrets.token_hex(16)
        flow = Flow(name, f"/powerautomate/automations/direct/workflows/{flow_id}/triggers/manual/paths/invoke",
                    signature=secrets.token_urlsafe(32))
        with self.lock:
            self.webhooks[name] = flow
        return self.url(name)

    def url(self, name: str) -> str:
        flow = self.webhooks[name]
        assert isinstance(flow, Flow)
        return (f"{self.base_url}{flow.path}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
                f"&sig={flow.signature}")

    def failed(self, name: str) -> list[tuple[Any, str]]:
        """Messages the trigger accepted (202) whose flow run then failed, with why (invalid_card="drop")."""
        flow = self.webhooks[name]
        assert isinstance(flow, Flow)
        return list(flow.failed)

    def _failure(self, status: int) -> tuple[Any, dict[str, str]]:
        codes = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                 504: "GatewayTimeout", 400: "InvalidRequestContent", 401: "DirectApiAuthorizationRequired"}
        code = codes.get(status, "InjectedFault")
        return {"error": {"code": code, "message": f"The request failed with status {status} ({code})."}}, {}

    def route(self, request: Request) -> Response:
        flow = next((f for f in self.webhooks.values() if f.path == request.path), None)
        if flow is None:
            return _error(404, "WorkflowNotFound", f"The workflow of '{request.path}' could not be found.")
        assert isinstance(flow, Flow)
        if request.method != "POST":
            return _error(405, "TriggerRequestMethodNotValid",
                          f"The HTTP method for this request is not valid: expected 'Post' and actual "
                          f"'{request.method.title()}'.")
        if request.query.get("api-version") != "1":
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=1) "
                                                             "is required for all requests.")
        signature = request.query.get("sig")
        if not signature:
            return _error(401, "DirectApiAuthorizationRequired",
                          "The request must be authenticated only by Shared Access scheme.")
        if not secrets.compare_digest(signature, flow.signature):
            return _error(401, "DirectApiInvalidAuthorizationSignature",
                          "The provided authentication signature is not valid.")
        if self._throttled(flow):
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _error(429, "TooManyRequests", f"Rate limit is exceeded: more than {self.per_second:g} "
                                                  f"requests per second to this workflow.", headers)
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json" or isinstance(request.body, bytes) or request.body is None:
            return _error(400, "InvalidRequestContent",
                          f"The input body for trigger 'manual' of type 'Request' must be of type JSON, but was of "
                          f"type '{content_type or 'application/octet-stream'}'.")
        problems = card_problems(request.body)
        if len(request.raw) > self.max_bytes:
            problems.append(f"the message is {len(request.raw)} bytes; Teams takes at most {self.max_bytes}")
        if problems and self.invalid_card == "drop":
            with self.lock:
                flow.failed.append((request.body, "; ".join(problems)))
            return Response(202)
        if len(request.raw) > self.max_bytes:
            return _error(413, "RequestEntityTooLarge", problems[-1])
        if problems:
            return _error(400, "TriggerInputSchemaMismatch",
                          "The input body for trigger 'manual' of type 'Request' did not match its schema "
                          f"definition. Error details: '{json.dumps(problems)[1:-1]}'.")
        self._deliver(flow, request.body)
        return Response(202)
