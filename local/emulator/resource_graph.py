"""Azure Resource Graph (`POST /providers/Microsoft.ResourceGraph/resources`) as the emulator serves it: queries
of the `resourcechanges` table, answered from the resource world's change log (arm_resources.py) with the query
language subset of kql.py, and Resource Graph's own answer to anything else: 400 BadRequest / InvalidQuery.

As Resource Graph does (its "Guidance for pagination" and "throttled requests" pages):
  * a page has 100 rows unless `options.$top` (1-1000) says otherwise; `$skipToken` continues a query, and only
    the same query (same text and scope) may use it;
  * a query with `take` / `limit` / `top`, or whose columns are all dynamic, is not paged: rows past the page are
    cut and `resultTruncated` is "true" with no `$skipToken`;
  * without `order by`, rows come in no particular order (here: by change id, never by time);
  * each response carries `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`; past 15 queries in
    5 seconds the answer is 429 (no `Retry-After` is documented, so none is sent: stricter);
  * changes are kept 14 days and become visible `change_latency` seconds after the write (Azure: "less than five
    minutes"); App Service settings and configuration never appear (see arm_resources.UNTRACKED_TYPES).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections import deque
from datetime import timedelta
from typing import Any

from local.emulator.arm_resources import TENANT, ResourceChange, ResourceWorld, arm_time, utcnow
from local.emulator.kql import KqlError, Query, output
from local.emulator.server import Request, Response, arm_error

API_VERSIONS = {"2019-04-01", "2021-03-01", "2022-10-01", "2024-04-01"}
PATH = "/providers/microsoft.resourcegraph/resources"
RETENTION = timedelta(days=14)
INVALID_QUERY = ("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix "
                 "the error before retrying.")


class ResourceGraph:
    def __init__(self, world: ResourceWorld):
        self.world = world
        self.quota, self.quota_window = 15, 5.0
        self._recent: deque[float] = deque()
        self.queries: list[str] = []  # every query text answered (or refused), for tests and benchmarks

    def route(self, request: Request) -> Response | None:
        if request.path.lower().rstrip("/") != PATH:
            return None
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return arm_error(400, "InvalidApiVersionParameter",
                             f"The api-version '{version}' is invalid. The supported versions are "
                             f"'{','.join(sorted(API_VERSIONS, reverse=True))}'.")
        if request.method != "POST":
            return arm_error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}.")
        throttled, headers = self._quota()
        if throttled:
            return _graph_error(429, "RateLimiting", [{"code": "RateLimiting", "message": (
                "Client application has been throttled and should not attempt to repeat the request until an "
                "amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.")}], headers)
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return _graph_error(400, "BadRequest", [{"code": "InvalidQuery", "message": INVALID_QUERY},
                                                    {"code": "MissingQuery",
                                                     "message": "The request body needs a 'query' string."}], headers)
        text = body["query"]
        self.queries.append(text)
        options = body.get("options") or {}
        try:
            top = int(options.get("$top", 100))
            skip = int(options.get("$skip", 0))
        except (TypeError, ValueError):
            top, skip = -1, -1
        if not 1 <= top <= 1000 or skip < 0:
            return _graph_error(400, "BadRequest", [{"code": "InvalidQueryOptions", "message": (
                "options.$top must be 1 to 1000 and options.$skip 0 or more.")}], headers)
        if options.get("resultFormat", "objectArray") not in ("objectArray", "table"):
            return _graph_error(400, "BadRequest", [{"code": "InvalidQueryOptions", "message": (
                "options.resultFormat must be 'objectArray' or 'table'.")}], headers)
        scope = sorted(s.lower() for s in body.get("subscriptions") or [])
        fingerprint = hashlib.sha256(json.dumps([text, scope]).encode()).hexdigest()[:16]
        if options.get("$skipToken"):
            offset = _read_token(options["$skipToken"], fingerprint)
            if offset is None:
                return _graph_error(400, "BadRequest", [{"code": "InvalidSkipToken", "message": (
                    "The $skipToken does not belong to this query: send the same query and scope it came "
                    "with.")}], headers)
        else:
            offset = skip
        try:
            query = Query(text, {"resourcechanges"}, utcnow)
            with self.world.lock:
                rows = self._rows(scope)
            result = query.run(rows)
        except KqlError as error:
            detail: dict[str, Any] = {"code": error.kind, "message": error.message}
            if error.position >= 0:
                detail.update(line=1, characterPositionInLine=error.position, token=error.token)
            return _graph_error(400, "BadRequest", [{"code": "InvalidQuery", "message": INVALID_QUERY}, detail],
                                headers)
        pageable = not result.limited and not (result.columns and all(c.dynamic for c in result.columns))
        page = result.rows[offset:offset + top]
        more = offset + top < len(result.rows)
        response: dict[str, Any] = {"totalRecords": len(result.rows), "count": len(page),
                                    "resultTruncated": "true" if more and not pageable else "false",
                                    "facets": []}
        if more and pageable:
            response["$skipToken"] = _token(offset + top, fingerprint)
        names = [c.name for c in result.columns]
        if options.get("resultFormat") == "table":
            response["data"] = {"columns": [{"name": c.name, "type": "object" if c.dynamic else "string"}
                                            for c in result.columns],
                                "rows": [[output(row.get(name)) for name in names] for row in page]}
        else:
            response["data"] = [{name: output(row.get(name)) for name in names} for row in page]
        return Response(200, response, headers)

    def _quota(self) -> tuple[bool, dict[str, str]]:
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= self.quota_window:
            self._recent.popleft()
        throttled = len(self._recent) >= self.quota
        if not throttled:
            self._recent.append(now)
        resets = self.quota_window - (now - self._recent[0]) if self._recent else self.quota_window
        seconds = max(0, int(resets + 0.999))
        return throttled, {"x-ms-user-quota-remaining": str(max(0, self.quota - len(self._recent))),
                           "x-ms-user-quota-resets-after": f"00:00:{seconds:02d}"}

    def _rows(self, scope: list[str]) -> list[dict[str, Any]]:
        now = utcnow()
        visible = [c for c in self.world.changes
                   if (now - c.recorded).total_seconds() >= self.world.change_latency
                   and now - c.timestamp <= RETENTION
                   and (not scope or c.target.subscription.lower() in scope)]
        return [change_row(c) for c in sorted(visible, key=lambda c: c.change_id[::-1])]


def change_row(change: ResourceChange) -> dict[str, Any]:
    """A `resourcechanges` row, shaped as "Get resource changes" documents the change resource."""
    target = change.target
    attributes = {"previousResourceSnapshotId": None if change.change_type == "Create" else uuid.uuid5(
                      uuid.NAMESPACE_URL, change.change_id + "/before").hex,
                  "newResourceSnapshotId": None if change.change_type == "Delete" else uuid.uuid5(
                      uuid.NAMESPACE_URL, change.change_id + "/after").hex,
                  "correlationId": change.correlation_id, "changedByType": change.changed_by_type,
                  "changesCount": len(change.changes), "clientType": change.client_type,
                  "changedBy": change.changed_by, "operation": change.operation,
                  "timestamp": change.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    attributes = {k: v for k, v in attributes.items() if v is not None}
    return {"id": f"{target.id}/providers/Microsoft.Resources/changes/{change.change_id}", "name": change.change_id,
            "type": "microsoft.resources/changes", "tenantId": TENANT, "kind": "", "location": "",
            # Resource Graph's casing of resourceGroup is not documented: lower case here, so only a
            # case-insensitive comparison (=~) finds a group named in capitals.
            "resourceGroup": target.resource_group.lower(), "subscriptionId": target.subscription,
            "managedBy": "", "sku": None, "plan": None,
            "properties": {"targetResourceId": target.id, "targetResourceType": target.type.lower(),
                           "changeType": change.change_type, "changeAttributes": attributes,
                           "changes": json.loads(json.dumps(change.changes))},
            "tags": None, "identity": None, "zones": None, "extendedLocation": None}


def _token(offset: int, fingerprint: str) -> str:
    return base64.b64encode(json.dumps({"$skip": offset, "q": fingerprint}).encode()).decode()


def _read_token(token: Any, fingerprint: str) -> int | None:
    try:
        decoded = json.loads(base64.b64decode(str(token), validate=True))
    except ValueError:
        return None
    if not isinstance(decoded, dict) or decoded.get("q") != fingerprint or not isinstance(decoded.get("$skip"), int):
        return None
    return decoded["$skip"]


def _graph_error(status: int, code: str, details: list[dict[str, Any]], headers: dict[str, str]) -> Response:
    """Resource Graph's error body: a support line as the message, the reasons in `details`."""
    message = (f"Please provide below info when asking for support: timestamp = {arm_time(utcnow())}, "
               f"correlationId = {uuid.uuid4()}.")
    return Response(status, {"error": {"code": code, "message": message, "details": details}}, dict(headers))
