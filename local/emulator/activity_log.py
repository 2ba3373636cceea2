"""The activity log (`GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`,
api-version 2015-04-01, azure-mgmt-monitor's `activity_logs.list`) as the emulator serves it, from the resource
world's events (arm_resources.py): every write there is a `Started` and an outcome event under one correlation
id, App Service's settings and configuration writes included (which Resource Graph does not see).

As the spec says: `$filter` is required and "very restricted": only `eventTimestamp ge '<t>' and eventTimestamp
le '<t>'`, optionally followed by one `and resourceGroupName | resourceUri | resourceProvider | correlationId eq
'<v>'`, in that order ("No other syntax is allowed"); `$select` names EventData properties. Choices where the
spec is silent (stricter): a start more than 90 days ago (the log's retention) is a 400, as the service answers
it (azure-cli issue 4885); errors use the spec's flat `{"code", "message"}` body; events come newest first in
pages of `page_size` (200) with a `nextLink`.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import urlencode

from local.emulator.arm_resources import TENANT, ActivityEvent, ResourceWorld, arm_time, utcnow
from local.emulator.kql import parse_time
from local.emulator.server import Request, Response

API_VERSIONS = {"2015-04-01"}
_PATH = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.insights/eventtypes/management/values/?$",
                   re.IGNORECASE)
_FILTER = re.compile(r"^eventTimestamp ge '(?P<start>[^']+)' and eventTimestamp le '(?P<end>[^']+)'"
                     r"(?: and (?P<field>resourceGroupName|resourceUri|resourceProvider|correlationId) eq "
                     r"'(?P<value>[^']*)')?$")
SELECTABLE = {"authorization", "claims", "correlationId", "description", "eventDataId", "eventName",
              "eventTimestamp", "httpRequest", "level", "operationId", "operationName", "properties",
              "resourceGroupName", "resourceProviderName", "resourceId", "status", "submissionTimestamp",
              "subStatus", "subscriptionId", "category", "caller", "resourceType", "tenantId", "id"}
RETENTION = timedelta(days=90)
PATTERNS = ("eventTimestamp ge '<start>' and eventTimestamp le '<end>' [and resourceGroupName eq '<group>' | "
            "and resourceUri eq '<resource id>' | and resourceProvider eq '<namespace>' | "
            "and correlationId eq '<id>']")


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"code": code, "message": message})


class ActivityLog:
    def __init__(self, world: ResourceWorld, base_url: Callable[[], str]):
        self.world = world
        self._base_url = base_url
        self.page_size = 200

    def route(self, request: Request) -> Response | None:
        match = _PATH.match(request.path)
        if not match:
            return None
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return _error(400, "InvalidApiVersionParameter",
                          f"The api-version '{version}' is invalid. The supported versions are '2015-04-01'.")
        if request.method != "GET":
            return _error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}.")
        raw = request.query.get("$filter")
        if not raw:
            return _error(400, "BadRequest", f"The $filter parameter is required: {PATTERNS}.")
        parsed = _FILTER.match(raw.strip())
        if not parsed:
            return _error(400, "BadRequest", f"The $filter '{raw}' is not supported. No other syntax than this is "
                                             f"allowed: {PATTERNS}.")
        start, end = parse_time(parsed["start"]), parse_time(parsed["end"])
        if start is None or end is None:
            return _error(400, "BadRequest", f"The eventTimestamp values in '{raw}' are not ISO 8601 date-times.")
        if start > end:
            return _error(400, "BadRequest", "The start of the eventTimestamp range is after its end.")
        if utcnow() - start > RETENTION:
            return _error(400, "BadRequest", "The start time of the query cannot be more than 90 days in the past: "
                                             "the activity log keeps 90 days.")
        select = None
        if request.query.get("$select"):
            select = [name.strip() for name in request.query["$select"].split(",") if name.strip()]
            unknown = [name for name in select if name not in SELECTABLE]
            if unknown:
                return _error(400, "BadRequest", f"$select names properties EventData does not have: "
                                                 f"{', '.join(unknown)}.")
        subscription = match["sub"].lower()
        with self.world.lock:
            now = utcnow()
            events = [e for e in self.world.events
                      if e.subscription.lower() == subscription and start <= e.timestamp <= end
                      and (now - e.recorded).total_seconds() >= self.world.event_latency
                      and _matches(e, parsed["field"], parsed["value"])]
        events.sort(key=lambda e: e.timestamp, reverse=True)
        skip = request.query.get("$skipToken", "0")
        offset = int(skip) if skip.isdigit() else 0
        page = events[offset:offset + self.page_size]
        body: dict[str, Any] = {"value": [_select(event_body(e), select) for e in page]}
        if offset + self.page_size < len(events):
            query = {k: v for k, v in request.query.items() if k != "$skipToken"}
            query["$skipToken"] = str(offset + self.page_size)
            body["nextLink"] = f"{self._base_url()}{request.path}?{urlencode(query)}"
        return Response(200, body)


def _matches(event: ActivityEvent, field: str | None, value: str | None) -> bool:
    if field is None:
        return True
    wanted = (value or "").lower()
    if field == "resourceGroupName":
        return event.resource_group.lower() == wanted
    if field == "resourceUri":
        return event.resource_id.lower() == wanted
    if field == "resourceProvider":
        return _namespace(event.resource_id).lower() == wanted
    return event.correlation_id.lower() == wanted


def _namespace(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[parts.index("providers") + 1] if "providers" in parts else ""


def _select(body: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    return body if select is None else {k: v for k, v in body.items() if k in select}


def _localized(value: str, localized: str | None = None) -> dict[str, str]:
    return {"value": value, "localizedValue": localized if localized is not None else value}


def event_body(event: ActivityEvent) -> dict[str, Any]:
    """An EventData entry, shaped as the official GetActivityLogsFiltered example."""
    namespace = _namespace(event.resource_id)
    type_ = "/".join(event.operation.split("/")[:-1])
    ticks = int(event.timestamp.timestamp() * 1e7) + 621355968000000000
    failed = event.status == "Failed"
    sub_status = ({"OK": "OK (HTTP Status Code: 200)", "Created": "Created (HTTP Status Code: 201)",
                   "Accepted": "Accepted (HTTP Status Code: 202)",
                   "Conflict": "Conflict (HTTP Status Code: 409)"}.get(event.sub_status, event.sub_status))
    claims = {"aud": "https://management.core.windows.net/", "iss": f"https://sts.windows.net/{TENANT}/",
              "http://schemas.microsoft.com/identity/claims/tenantid": TENANT}
    if "@" in event.caller:
        claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = event.caller
    else:
        claims["http://schemas.microsoft.com/identity/claims/objectidentifier"] = event.caller
    return {
        "authorization": {"action": event.operation, "scope": event.resource_id},
        "caller": event.caller,
        "claims": claims,
        "correlationId": event.correlation_id,
        "description": "",
        "eventDataId": event.event_id,
        "eventName": _localized(event.event_name, "Begin request" if event.event_name == "BeginRequest"
                                else "End request"),
        "category": _localized("Administrative"),
        "httpRequest": {"clientRequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, event.correlation_id)),
                        "clientIpAddress": "203.0.113.24", "method": event.method},
        "id": f"{event.resource_id}/events/{event.event_id}/ticks/{ticks}",
        "level": "Error" if failed else "Informational",
        "resourceGroupName": event.resource_group,
        "resourceProviderName": _localized(namespace),
        "resourceId": event.resource_id,
        "resourceType": _localized(type_),
        "operationId": event.correlation_id,
        "operationName": _localized(event.operation),
        "properties": {"statusCode": event.sub_status, "eventCategory": "Administrative",
                       "entity": event.resource_id, **event.properties} if event.sub_status else
                      {"eventCategory": "Administrative", "entity": event.resource_id, **event.properties},
        "status": _localized(event.status),
        "subStatus": _localized(event.sub_status, sub_status),
        "eventTimestamp": arm_time(event.timestamp),
        "submissionTimestamp": arm_time(event.timestamp + timedelta(seconds=12)),
        "subscriptionId": event.subscription,
        "tenantId": TENANT,
    }
