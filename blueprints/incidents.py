"""Read the incident records: a filtered, paged list (newest first) and one incident with its timeline."""

from __future__ import annotations

from datetime import datetime, timezone

import azure.functions as func

from shared.http import answers_errors, error_response, json_response

bp = func.Blueprint()

_PAGE_MAX = 200


@bp.route(route="incidents", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    """`?status=&component=&since=(ISO 8601 time or a duration like 2h)&limit=&cursor=`"""
    from shared import services
    from shared.durations import parse_duration
    from shared.status import Status

    params = req.params
    unknown = sorted(set(params) - {"status", "component", "since", "limit", "cursor", "code"})
    if unknown:
        return error_response(400, "invalid_query", f"unknown query parameter(s): {', '.join(unknown)}")
    status = params.get("status")
    if status is not None and status not in {s.value for s in Status}:
        return error_response(400, "invalid_query",
                              f"status must be one of {', '.join(s.value for s in Status)}; got {status!r}")
    limit_text = params.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= _PAGE_MAX:
        return error_response(400, "invalid_query", f"limit must be a whole number from 1 to {_PAGE_MAX}")
    since = None
    current = services.current()
    if params.get("since"):
        text = params["since"]
        try:
            since = datetime.fromisoformat(text.replace("Z", "+00:00"))
            since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        except ValueError:
            try:
                since = current.clock() - parse_duration(text)
            except (ValueError, OverflowError):
                since = None
        if since is None or since.year < 2000:
            return error_response(400, "invalid_query", "since must be an ISO 8601 time after 2000 "
                                                        "(2026-11-25T03:00:00Z) or a duration (2h)")
    try:
        page = await current.store.list(status=Status(status) if status else None,
                                        component=params.get("component") or None, since=since,
                                        limit=int(limit_text), cursor=params.get("cursor"))
    except ValueError as error:
        return error_response(400, "invalid_query", str(error))
    return json_response({"items": [incident.public() for incident in page.items], "next_cursor": page.next_cursor})


@bp.route(route="incidents/{incident_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@answers_errors
async def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    from shared import services
    from shared.incidents import IncidentNotFound

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
