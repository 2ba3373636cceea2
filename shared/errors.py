"""The responder's one exception tree. Adapters translate SDK, HTTP and Redis errors into these at their
boundary; nothing above the adapters sees an `azure.core`, `redis` or `httpx` exception, and every error the
app raises on purpose is a ResponderError. `str(e)` is what a person needs to act, and what the timeline gets.

    ResponderError
    ├── TemporaryError(delay)       try the step again after `delay` seconds (if the step's retry budget allows)
    │   ├── AzureUnavailable        throttled (429), 5xx after the SDK's own retries, connection or timeout
    │   ├── AzureConflict           409: another operation is running on the resource
    │   ├── CacheUnavailable        Redis refused the connection or timed out
    │   └── UpstreamUnavailable     another service (GitHub, a webhook, a database) throttled, 5xx, unreachable
    ├── PermanentError              retrying will not help; the step (and the incident) fails
    │   ├── AzureOperationFailed    a long-running operation ended Failed/Canceled (Azure's code and message kept)
    │   ├── AzureRequestRejected    4xx other than 401/403/404/409/429 (bad request, precondition...)
    │   ├── AzurePermissionDenied   401/403: the responder's identity lacks a role
    │   ├── TargetNotFound          404: the site, slot, server or secret does not exist
    │   ├── CacheAuthFailed         wrong Redis password / token
    │   ├── CacheTLSFailed          TLS handshake or certificate verification failed
    │   ├── UpstreamRefused(status) another service refused the request for good (4xx other than throttling)
    │   └── ConfigurationError      a setting or a rule is wrong
    │       └── RulesError          the rules file, with each problem naming its rule and field
    ├── Waiting(delay, topic)       not a failure: something under way (an Azure operation, a health window,
    │                               another operation holding the site) is awaited; the step comes back in `delay`
    │                               seconds and uses none of its retries; the responder bounds the wait itself
    ├── ApprovalNeeded(gate)        not a failure: the step needs a person's approval before it goes on (the
    │                               incident waits in awaiting_approval with the request; approving continues it)
    ├── Escalate                    the responder refuses to act (unsafe) or acted without fixing it: a human decides
    ├── LeaseHeld(incident_id)      another run (of this incident or another) is acting on the target now
    ├── TransitionRefused           a status change the state machine does not allow (e.g. resolved -> running)
    ├── StoreError                  the incident store (Table/Queue storage) is unreachable or failed: triggers answer 503
    │   ├── StoreRejected(code)     storage refused a request it will never accept (4xx: PropertyValueTooLarge,
    │   │                           EntityTooLarge, InvalidInput, 403 for a key or an identity without its role...):
    │   │                           not "unavailable"; the record is written smaller, or the trigger says so
    │   ├── EntityExists            a conditional insert lost: the row is already there
    │   └── EntityChanged           an ETag-conditioned update lost: someone else wrote first (reload, retry)
    ├── EntityMissing               the row does not exist
    │   └── IncidentNotFound        no incident by that id (or the id is not one)
    └── RequestRefused(status)      a request a trigger refuses; carries its HTTP status and JSON body
        ├── PayloadError            input that cannot be used: 400 (not JSON), 413 (too large), 422 (shape)
        └── InvalidCursor           a `cursor` that is not a `next_cursor` this API returned: 400
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ResponderError(Exception):
    """Base of every error this app raises on purpose."""


class TemporaryError(ResponderError):
    def __init__(self, message: str, delay: float = 5.0):
        super().__init__(message)
        self.delay = delay


class AzureUnavailable(TemporaryError):
    pass


class AzureConflict(TemporaryError):
    pass


class CacheUnavailable(TemporaryError):
    pass


class UpstreamUnavailable(TemporaryError):
    pass


class PermanentError(ResponderError):
    pass


class UpstreamRefused(PermanentError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AzureOperationFailed(PermanentError):
    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class AzureRequestRejected(PermanentError):
    pass


class AzurePermissionDenied(PermanentError):
    pass


class TargetNotFound(PermanentError):
    pass


class CacheAuthFailed(PermanentError):
    pass


class CacheTLSFailed(PermanentError):
    pass


class ConfigurationError(PermanentError):
    pass


class RulesError(ConfigurationError):
    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class Waiting(ResponderError):
    """The step waits for something under way; the executor brings it back after `delay` seconds (in this
    invocation if the wait is short, else by a delayed message). Uses none of the step's retries."""

    def __init__(self, message: str, delay: float, topic: str | None = None, notable: bool = False):
        super().__init__(message)
        self.delay = delay
        self.topic = topic or message  # what is awaited: the timeline notes a wait when its topic changes,
        self.notable = notable  # even a short one when notable (a refusal, an unanswered request), else only
        #                         a wait handed to a delayed message


class ApprovalNeeded(ResponderError):
    """Raised by StepContext.require_approval: the plan stops at `gate` until `approvers` people approve
    `request` (what will happen, and what is lost)."""

    def __init__(self, gate: str, request: str, approvers: int = 1, destructive: bool = True):
        super().__init__(request)
        self.gate, self.request, self.approvers, self.destructive = gate, request, approvers, destructive


class Escalate(ResponderError):
    """Stop the plan and hand the incident to a person, with the reason."""


class LeaseHeld(ResponderError):
    def __init__(self, target: str, incident_id: str, expires: datetime):
        super().__init__(f"{target} is being acted on by incident {incident_id} until {expires:%H:%M:%SZ}")
        self.incident_id, self.expires = incident_id, expires


class TransitionRefused(ResponderError):
    def __init__(self, what: str, current: str, wanted: str, allowed: list[str]):
        self.current, self.wanted = current, wanted
        super().__init__(f"cannot move {what} from {current} to {wanted} (allowed from {current}: "
                         f"{', '.join(sorted(allowed)) or 'none: it is final'})")


class StoreError(ResponderError):
    pass


class StoreRejected(StoreError):
    """Storage answered 4xx for a request it will never accept as it is: not unavailability, so not "retry later".
    `code` is storage's error code, `status` its HTTP status."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code, self.status = code, status


class EntityExists(StoreError):
    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class EntityChanged(StoreError):
    pass


class EntityMissing(ResponderError):
    pass


class IncidentNotFound(EntityMissing):
    pass


class RequestRefused(ResponderError):
    """A request an HTTP trigger (or the CLI) refuses; `status` is the answer (400, 401, 403, 404, 409, 413, 422)
    and `body()` the JSON that says what is wrong."""

    def __init__(self, status: int, code: str, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.problems:
            body["problems"] = self.problems
        return body


class PayloadError(RequestRefused):
    """Input that cannot be used as it is: not JSON (400), too large (413), or of no known shape (422)."""


class InvalidCursor(RequestRefused):
    """A `cursor` that is not a `next_cursor` this API returned (or was altered)."""

    def __init__(self, message: str = "cursor is not one this API returned"):
        super().__init__(400, "invalid_query", message)
