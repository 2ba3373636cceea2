"""HTTP plumbing shared by the HTTP triggers: who may call each route (declared on the route, enforced here),
JSON bodies in and out, and one place that maps the responder's exceptions to status codes with a JSON error
body that says what is wrong.

Every route is registered through `route(bp, path, methods, access)`: the access is part of the route's
declaration, so a route cannot be added without saying who may call it (a test walks the FunctionApp's HTTP
functions and fails for one that declares none)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import azure.functions as func

from shared.errors import ConfigurationError, RequestRefused, StoreError, StoreRejected, TransitionRefused
from shared.decide.payloads import MAX_BODY_BYTES, decode_json, too_large

log = logging.getLogger("responder.http")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str, separators=(",", ":")), status_code=status,
                             mimetype="application/json", charset="utf-8", headers=headers)


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    headers = {"Retry-After": "10"} if status == 503 else None
    return json_response({"error": code, "message": message, **extra}, status, headers)


def read_json(req: func.HttpRequest) -> Any:
    """The request body as JSON, or PayloadError 413 (too big) / 400 (not JSON)."""
    declared = (req.headers.get("content-length") or "").strip().lstrip("0")
    # ASCII digits only (`²` is a digit to str.isdigit, not to int); more than 7 digits is over 1 MiB anyway
    # (and int() refuses thousands of them); anything else is left to the body's own length.
    if declared.isascii() and declared.isdigit() and (len(declared) > 7 or int(declared) > MAX_BODY_BYTES):
        raise too_large(int(declared) if len(declared) <= 20 else f"more than {10 ** 20}")
    return decode_json(req.get_body() or b"")


@dataclass(frozen=True)
class Access:
    """Who may call a route. The host checks the function key (`auth_level`); routes that change production
    also need a caller identity with one of `roles` (a Microsoft Entra ID token, or App Service Authentication),
    and the alert intake takes the action group's Secure Webhook token when one is sent or required."""

    what: str
    auth_level: func.AuthLevel = func.AuthLevel.FUNCTION
    roles: tuple[str, ...] = ()
    alert_sender: bool = False
    deadline: bool = False  # answered within RESPONDER_INTAKE_DEADLINE (Azure Monitor waits 10 s)


PUBLIC = Access("anyone", func.AuthLevel.ANONYMOUS)
FUNCTION_KEY = Access("the function key")
ALERT_SENDER = Access("the function key, and with Secure Webhook the action group's token", alert_sender=True,
                      deadline=True)


def callers(*roles: str) -> Access:
    return Access(f"the function key and a caller with the role {' or '.join(roles)}", roles=roles)


Handler = Callable[[func.HttpRequest, Any], Awaitable[func.HttpResponse]]


def route(bp: func.Blueprint, path: str, methods: list[str], access: Access):
    """Register `handler(req, caller)` as an HTTP trigger that only `access` may call; `caller` is the
    authenticated Caller on routes with roles, else None. Exceptions become their HTTP answers."""
    def register(handler: Handler):
        @functools.wraps(handler)
        async def trigger(req: func.HttpRequest) -> func.HttpResponse:
            return await _answered(handler, req, access)

        trigger.access = access  # type: ignore[attr-defined]  (what the route-declaration test reads)
        return bp.route(route=path, methods=methods, auth_level=access.auth_level)(trigger)

    return register


async def _answered(handler: Handler, req: func.HttpRequest, access: Access) -> func.HttpResponse:
    from shared import services

    try:
        current = services.current()
        if not access.deadline:
            return await _checked(handler, req, access, current)
        try:
            async with asyncio.timeout(current.settings.intake_deadline.total_seconds()):
                return await _checked(handler, req, access, current)
        except TimeoutError:
            log.error("%s did not finish within %s", handler.__name__, current.settings.intake_deadline)
            return error_response(503, "timeout", "the incident store did not answer in time; retry later (a "
                                                  "retried alert finds what was already recorded)")
    except Exception as error:
        return _answer(error, handler.__name__)


async def _checked(handler: Handler, req: func.HttpRequest, access: Access, current: Any) -> func.HttpResponse:
    from shared.decide.callers import require

    caller = None
    if access.roles:
        caller = await current.auth.caller(req.headers)
        require(caller, *access.roles)
    elif access.alert_sender:
        await current.auth.alert_sender(req.headers)
    return await handler(req, caller)


def _answer(error: Exception, name: str) -> func.HttpResponse:
    """The HTTP answer to an exception a trigger met; nothing escapes as a bare 500."""
    if isinstance(error, RequestRefused):
        # A 503 (signing keys unavailable) is worth retrying: Azure Monitor retries a 503, never a 500.
        retry = {"Retry-After": "10"} if error.status == 503 else None
        return json_response(error.body(), error.status, headers=retry)
    if isinstance(error, StoreRejected):
        log.error("incident store refused a record: %s", error)
        return error_response(503, "store_refused", f"the incident store refused the record "
                                                    f"({error.code or 'refused'}); this is the responder's fault, "
                                                    f"not the request's: it is in the logs")
    if isinstance(error, StoreError):
        log.error("incident store unavailable: %s", error)
        return error_response(503, "store_unavailable", "the incident store is unavailable; retry later (a retried "
                                                        "alert or Idempotency-Key request finds what was already "
                                                        "recorded)")
    if isinstance(error, TransitionRefused):  # the incident moved on while this request was handled
        return error_response(409, "conflict", str(error))
    if isinstance(error, ConfigurationError):  # the app's settings or rules: 503, so nothing is lost meanwhile
        log.error("MISCONFIGURED: %s", error)
        return error_response(503, "misconfigured", f"the responder is misconfigured: {error}")
    log.error("unhandled error in %s", name, exc_info=error)
    return error_response(500, "internal_error", "an unexpected error occurred; it is in the logs")
