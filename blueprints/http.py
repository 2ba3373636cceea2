"""HTTP plumbing shared by the HTTP triggers: JSON bodies in and out, and one place that maps the
responder's exceptions to status codes with a JSON error body that says what is wrong."""

from __future__ import annotations

import functools
import json
import logging
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


Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def answers_errors(handler: Handler) -> Handler:
    """Turn the exceptions a trigger can meet into their HTTP answers; nothing escapes as a bare 500."""
    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except RequestRefused as error:
            # A 503 (signing keys unavailable) is worth retrying: Azure Monitor retries a 503, never a 500.
            retry = {"Retry-After": "10"} if error.status == 503 else None
            return json_response(error.body(), error.status, headers=retry)
        except StoreRejected as error:
            log.error("incident store refused a record: %s", error)
            return error_response(503, "store_refused",
                                  f"the incident store refused the record ({error.code or 'refused'}); this is "
                                  f"the responder's fault, not the request's: it is in the logs")
        except StoreError as error:
            log.error("incident store unavailable: %s", error)
            return error_response(503, "store_unavailable",
                                  "the incident store is unavailable; retry later (a retried alert or "
                                  "Idempotency-Key request finds what was already recorded)")
        except TransitionRefused as error:  # the incident moved on while this request was handled
            return error_response(409, "conflict", str(error))
        except ConfigurationError as error:  # the app's settings or rules: 503, so nothing is lost meanwhile
            log.error("MISCONFIGURED: %s", error)
            return error_response(503, "misconfigured", f"the responder is misconfigured: {error}")
        except Exception:
            log.exception("unhandled error in %s", handler.__name__)
            return error_response(500, "internal_error", "an unexpected error occurred; it is in the logs")

    return wrapper
