"""Following an ARM long-running operation across invocations, one status read at a time.

An invocation starts the operation and keeps its handle (JSON, in the step's record); later invocations, woken by
delayed messages, each read its status once. The SDK's poller is not used for the waiting: it can only block
until the end, it sleeps 30 s between polls when Azure sends no Retry-After, and when the Location URL answers an
error it reports the *initial* 202 instead of Azure's message. The handle plays the part of its
continuation token, in a form this module reads itself.

How Azure reports progress (ARM RPC "Asynchronous Operations", and the SDK's own polling rules):
  * `Azure-AsyncOperation`: GET answers 200 with `{"status": ...}`; Succeeded, Failed and Canceled are final
    (`error` names why), anything else is still running. An error status means the status read failed, not the
    operation: that is retried.
  * `Location`: GET answers 202 while running (a new Location replaces the URL), 200/201/204 when done, and an
    error status (400, 409, 500...) with Azure's error body when the operation failed.
  * neither header on the 202 (App Service's spec declares none): nothing to poll; the caller follows the
    resource's own state instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Literal

from shared.adapters.azure import error_of, translated

_FINAL = {"succeeded", "failed", "canceled", "cancelled"}


@dataclass(frozen=True)
class Operation:
    """What another invocation needs to follow an operation Azure accepted."""

    how: Literal["async-operation", "location", "none"]
    url: str | None
    retry_after: float | None = None

    @classmethod
    def from_response(cls, response: Any) -> Operation:
        """From the initial response (an azure.core HttpResponse) of an accepted request."""
        headers = response.headers
        retry_after = _seconds(headers.get("Retry-After"))
        if headers.get("Azure-AsyncOperation"):
            return cls("async-operation", headers["Azure-AsyncOperation"], retry_after)
        if headers.get("Location"):
            return cls("location", headers["Location"], retry_after)
        return cls("none", None, retry_after)

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Operation:
        return cls(data["how"], data.get("url"), data.get("retry_after"))


@dataclass(frozen=True)
class Status:
    """One reading of an operation's status."""

    state: Literal["running", "succeeded", "failed"]
    http_status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    operation: Operation | None = None  # a new handle when Azure moved the polling URL

    @property
    def reason(self) -> str:
        code = f"{self.code}: " if self.code else ""
        status = f" (HTTP {self.http_status})" if self.http_status and self.http_status >= 400 else ""
        return f"{code}{self.message or 'no message from Azure'}{status}"


async def read_status(client: Any, operation: Operation, what: str) -> Status:
    """Read the operation's status once, through `client` (a management client: its pipeline authenticates and
    retries throttling and 5xx before an answer counts)."""
    from azure.core.rest import HttpRequest

    if operation.how == "none" or not operation.url:
        raise ValueError("an operation without a polling URL is followed by reading the resource")
    with translated(f"read the status of {what}"):
        response = await client.send_request(HttpRequest("GET", operation.url))  # read whole (stream=False)
    status, body = response.status_code, response.content
    retry_after = _seconds(response.headers.get("Retry-After"))
    if operation.how == "async-operation":
        if status != 200:  # the status read failed, not (necessarily) the operation
            code, message = error_of(body)
            return Status("running", status, code, f"status read answered {status}: {message}", retry_after)
        try:
            state = str(response.json().get("status", "")).lower()
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            return Status("running", status, None, "status resource is not JSON", retry_after)
        if state not in _FINAL:
            return Status("running", status, retry_after=retry_after)
        if state == "succeeded":
            return Status("succeeded", status)
        return Status("failed", status, error.get("code"), error.get("message") or f"the operation ended {state}")
    if status == 202:
        moved = response.headers.get("Location")
        handle = Operation("location", moved, retry_after) if moved and moved != operation.url else None
        return Status("running", status, retry_after=retry_after, operation=handle)
    if status in (200, 201, 204):
        return Status("succeeded", status)
    code, message = error_of(body)
    return Status("failed", status, code, message)


def _seconds(value: str | None) -> float | None:
    """Retry-After as seconds: an integer (ARM's form) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
