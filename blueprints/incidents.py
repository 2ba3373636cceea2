"""Read the incident records: a filtered, paged list (newest first) and one incident with its timeline."""

from __future__ import annotations

from datetime import datetime, timezone

import azure.functions as func

from blueprints.http import FUNCTION_KEY, error_response, json_response, route

bp = func.Blueprint()

_PAGE_MAX = 200


# The longest value each query parameter may have: none is near these, and anything longer (or not printable)
# is refused before it is parsed, echoed in a message or sent to storage.
_LONGEST = {"status": 32, "component": 128, "since": 64, "limit": 8, "cursor": 1024, "code": 256}
_SINCE = "since must be an ISO 8601 time after 2000 (2026-11-25T03:00:00Z) or a duration (2h)"
_LIMIT = f"limit must be a whole number from 1 to {_PAGE_MAX}"


class _BadQuery(ValueError):
    """A query parameter that cannot be used; the message names it."""


@route(bp, "incidents", ["GET"], FUNCTION_KEY)
async def list_incidents(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    """`?status=&component=&since=(ISO 8601 time or a duration like 2h)&limit=&cursor=`"""
    from shared import services
    from shared.errors import InvalidCursor
    from shared.decide.status import Status

    current = services.current()
    try:
        status, component, since, limit, cursor = _query(req.params, current.clock)
        page = await current.store.list(status=Status(status) if status else None, component=component,
                                        since=since, limit=limit, cursor=cursor)
    except (_BadQuery, InvalidCursor) as error:
        return error_response(400, "invalid_query", str(error))
    return json_response({"items": [incident.public() for incident in page.items], "next_cursor": page.next_cursor})


def _query(params, clock) -> tuple[str | None, str | None, datetime | None, int, str | None]:
    """status, component, since, limit and cursor, each validated; _BadQuery names the one that is wrong."""
    from shared.decide.status import Status

    unknown = sorted(set(params) - set(_LONGEST))
    if unknown:
        shown = ", ".join(name[:40] + ("..." if len(name) > 40 else "") for name in unknown[:5])
        raise _BadQuery(f"unknown query parameter(s): {shown}{', ...' if len(unknown) > 5 else ''}")
    statuses = f"status must be one of {', '.join(s.value for s in Status)}"
    says = {"status": statuses, "since": _SINCE, "limit": _LIMIT, "cursor": "cursor is not one this API returned"}
    for name, value in params.items():
        if len(value) > _LONGEST[name] or not value.isprintable():
            raise _BadQuery(says.get(name, f"{name} must be at most {_LONGEST[name]} printable characters"))
    status = params.get("status")
    if status is not None and status not in {s.value for s in Status}:
        raise _BadQuery(f"{statuses}; got {status!r}")
    limit_text = params.get("limit", "50")
    # ASCII digits only: str.isdigit() also takes `²` (which int() refuses) and `٣` (which int() reads as 3)
    if not (limit_text.isascii() and limit_text.isdigit() and 1 <= int(limit_text) <= _PAGE_MAX):
        raise _BadQuery(_LIMIT)
    since = _since(params["since"], clock) if params.get("since") else None
    return status, params.get("component") or None, since, int(limit_text), params.get("cursor") or None


def _since(text: str, clock) -> datetime:
    from shared.decide.durations import parse_duration

    try:
        since = datetime.fromisoformat(text.replace("Z", "+00:00"))
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    except ValueError:
        try:
            since = clock() - parse_duration(text)
        except (ValueError, OverflowError):
            since = None
    if since is None or since.year < 2000:
        raise _BadQuery(_SINCE)
    return since


@route(bp, "incidents/{incident_id}", ["GET"], FUNCTION_KEY)
async def get_incident(req: func.HttpRequest, caller: None) -> func.HttpResponse:
    from shared import services
    from shared.errors import IncidentNotFound

    incident_id = req.route_params.get("incident_id", "")
    store = services.current().store
    try:
        incident = await store.get(incident_id)
    except IncidentNotFound as error:
        return error_response(404, "not_found", str(error))
    timeline = await store.timeline(incident_id)
    steps = await store.steps(incident_id)
    body = incident.public() | {
        "raw": incident.raw,  # redacted and capped when it was recorded
        "timeline": [entry.model_dump(mode="json") for entry in timeline],
        "steps": [step.model_dump(mode="json") for step in steps],
    }
    return json_response(body)
