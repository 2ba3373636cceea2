"""The Log Analytics query API (v1) as azure-monitor-query 2.0's LogsQueryClient calls it, over the emulated
Application Insights telemetry (local/emulator/telemetry.py); the queries it answers: local/emulator/logs_kql.py.

    POST /v1/workspaces/{workspaceId}/query   query_workspace: the workspace's App* tables
    POST /v1/{resourceId}/query               query_resource: an App Insights component (its App* rows and the
                                              classic `requests`/`exceptions`), a workspace's ARM id, or any
                                              other resource
    body {"query", "timespan", "workspaces"}  timespan "PT3600.0S" | "<start>/<end>" | "<start>/<duration>" | null
    (GET with ?query=&timespan= as well; `/v1/$batch` and the metadata API are not emulated: 404)

Answers as the service does (../shared/azure-rest/logs/, learn.microsoft.com/azure/azure-monitor/logs/api/errors):
`200 {"tables": [{"name": "PrimaryResult", "columns", "rows"}]}`; a partial result is a 200 with `tables` and
`error` (code `PartialError`); a fatal error an error status with `{"error": {"message", "code", "innererror"}}`.
Where the service's behaviour is open, the stricter choice is made, and said so:
  * the bearer token must be an Entra access token whose `aud` is exactly `https://api.loganalytics.io` (the
    client's audience defaults to its endpoint, which for the emulator is not that); missing: 401
    AuthenticationFailed; not a live JWT: 403 InvalidAuthenticationToken; meant for another audience: 403
    InvalidTokenError. The signature is not checked (no keys to check it with), as Azurite's basic OAuth does;
  * rows encode numbers and booleans as strings, as the official example does (`"255"`, `"true"`); the
    `encoding = "native"` scenario answers JSON numbers and booleans, as the response-format page shows;
  * a resource query on an App Service returns its App* tables empty: Application Insights records its telemetry
    under the *component's* `_ResourceId`, so a client that asks the site reads "no requests", never "healthy";
  * a workspace no component sends to answers 204 No Content (documented for a workspace without data), and a
    POST without a JSON Content-Type an empty 200 (documented); the SDK fails on both, as it would in Azure;
  * `additional_workspaces`, which query_resource sends instead of `workspaces`, is ignored as an unknown field.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from local.emulator import logs_kql as kql
from local.emulator.server import Request, Response
from local.emulator.telemetry import Component, Telemetry, Workspace

AUDIENCE = "https://api.loganalytics.io"
_WORKSPACE_PATH = re.compile(r"^/v1/workspaces/(?P<workspace>[^/]+)/query$")
_RESOURCE_PATH = re.compile(r"^/v1(?P<resource>/subscriptions/[^?]+?)/query$", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_DURATION = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")
_WORKSPACE_TABLES = {"AppRequests", "AppExceptions"}
_COMPONENT_TABLES = _WORKSPACE_TABLES | {"requests", "exceptions"}


def logs_error(status: int, code: str, message: str, inner: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """The Log Analytics error body: `{"error": {"message", "code", "correlationId"[, "innererror"]}}`."""
    error: dict[str, Any] = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner is not None:
        error["innererror"] = inner
    return Response(status, {"error": error}, headers or {})


def _bad_argument(inner_code: str, message: str, detail: dict[str, Any] | None = None) -> Response:
    inner: dict[str, Any] = {"code": inner_code, "message": message}
    if detail is not None:
        inner["innererror"] = detail
    return logs_error(400, "BadArgumentError", "The request had some invalid properties", inner)


@dataclass
class LogsScenario:
    """What the tests set: the row encoding and the next queries answered partially."""

    encoding: Literal["strings", "native"] = "strings"
    # The next queries answer 200 with tables *and* a PartialError: {"times": n (None: all), "message": ...}.
    # The tables then lack the failed requests and the exceptions (the part that failed), so a client that
    # reads a partial result as complete sees a healthy application.
    partial: dict[str, Any] | None = None


@dataclass
class _Scope:
    components: list[Component]
    tables: set[str]
    empty: bool = False  # a resource with no App Insights telemetry of its own


class LogAnalytics:
    def __init__(self, telemetry: Telemetry):
        self.telemetry = telemetry
        self.scenario = LogsScenario()

    # ----- routing ---------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        workspace_match = _WORKSPACE_PATH.match(request.path)
        resource_match = None if workspace_match else _RESOURCE_PATH.match(request.path)
        if (workspace_match is None and resource_match is None) or request.method not in ("POST", "GET"):
            return logs_error(404, "PathNotFoundError", "The requested path does not exist")
        self.telemetry.observe_all()
        if workspace_match:
            scope = self._workspace_scope(workspace_match["workspace"])
        else:
            scope = self._resource_scope(resource_match["resource"])
        if isinstance(scope, Response):
            return scope
        body = self._body(request)
        if isinstance(body, Response):
            return body
        return self._execute(scope, body, _preferences(request))

    def _authenticate(self, request: Request) -> Response | None:
        authorization = request.header("Authorization") or ""
        if not authorization:
            return logs_error(401, "AuthenticationFailed",
                              "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        claims = _claims(token) if scheme.lower() == "bearer" else None
        now = time.time()  # tokens live in real time, whatever the telemetry clock says
        live = (claims is not None and isinstance(claims.get("exp"), (int, float)) and claims["exp"] > now
                and isinstance(claims.get("nbf", 0), (int, float)) and claims.get("nbf", 0) <= now + 300)
        if not live or not str(claims.get("iss", "")).startswith(("https://sts.windows.net/",
                                                                   "https://login.microsoftonline.com/")):
            return logs_error(403, "InvalidAuthenticationToken", "The access token is invalid.")
        if claims.get("aud") != AUDIENCE:
            return logs_error(403, "InvalidTokenError", "The provided authentication is not valid for this resource",
                              {"code": "TokenWrongAudienceError",
                               "message": f"The token audience '{claims.get('aud')}' is not {AUDIENCE}."})
        return None

    def _workspace_scope(self, workspace_id: str) -> _Scope | Response:
        workspace = self.telemetry.workspaces.get(workspace_id.lower()) if _GUID.match(workspace_id) else None
        if workspace is None:  # a name instead of the GUID, or an unknown GUID: the service answers the same
            return logs_error(404, "PathNotFoundError", "The requested path does not exist")
        return self._of_workspace(workspace)

    def _of_workspace(self, workspace: Workspace) -> _Scope:
        return _Scope([c for c in self.telemetry.components.values() if c.workspace is workspace], _WORKSPACE_TABLES)

    def _resource_scope(self, resource_id: str) -> _Scope | Response:
        wanted = resource_id.rstrip("/").lower()
        component = self.telemetry.components.get(wanted)
        if component is not None:
            return _Scope([component], _COMPONENT_TABLES)
        for workspace in self.telemetry.workspaces.values():
            if workspace.resource_id.lower() == wanted:
                return self._of_workspace(workspace)
        if any(site.id.lower() == wanted for site in self.telemetry.web.sites.values()):
            return _Scope([], _WORKSPACE_TABLES, empty=True)
        return logs_error(404, "ResourceNotFoundError", f"The resource {wanted} was not found")

    def _body(self, request: Request) -> dict[str, Any] | Response:
        if request.method == "GET":
            return {"query": request.query.get("query"), "timespan": request.query.get("timespan")}
        content_type = request.header("Content-Type") or ""
        if "application/json" not in content_type.lower() or request.body is None:
            return Response(200)  # documented: a POST without a JSON body or Content-Type gets an empty 200
        if not isinstance(request.body, dict):
            return _bad_argument("InvalidJson", "The request body is not a JSON object.")
        return request.body

    # ----- the query -------------------------------------------------------------------------------
    def _execute(self, scope: _Scope, body: dict[str, Any], prefer: dict[str, str]) -> Response:
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            return _bad_argument("InvalidQuery", "The query is required.")
        now = self.telemetry.clock.now()
        window = _window(body.get("timespan"), now)
        if isinstance(window, Response):
            return window
        extra = body.get("workspaces")
        if extra is not None:
            scope = self._with_workspaces(scope, extra)
            if isinstance(scope, Response):
                return scope
        if not scope.components and not scope.empty:
            return Response(204)  # documented: a workspace without data answers 204 No Content
        try:
            query = kql.parse(text, scope.tables, now)
        except kql.QueryError as error:
            return _bad_argument(error.kind, "Syntax Error" if error.kind == "SyntaxError"
                                 else "A semantic error occurred.",
                                 {"code": "SYN0002" if error.kind == "SyntaxError" else "SEM0100",
                                  "message": error.message})
        since, until = max(window[0], query.since), min(window[1], query.until)
        partial = self._take_partial()
        rows = [row for component in scope.components
                for row in self.telemetry.rows(component, query.schema.kind, since, until, now)
                if window[0] <= row.time <= window[1]
                and not (partial and (row.success is False or query.schema.kind == "exceptions"))]
        table = {"name": "PrimaryResult",
                 "columns": [{"name": name, "type": type_} for name, type_ in query.columns],
                 "rows": [[self._encode(value, type_) for value, (_, type_) in zip(row, query.columns)]
                          for row in query.run(rows)]}
        answer: dict[str, Any] = {"tables": [table]}
        if prefer.get("include-statistics") == "true":
            answer["statistics"] = {"query": {"executionTime": 0.0012, "datasetStatistics": [
                {"tableRowCount": len(table["rows"]), "tableSize": len(str(table["rows"]))}],
                "inputDatasetStatistics": {"extents": {"total": 1, "scanned": 1}, "rows": {"total": len(rows),
                                                                                           "scanned": len(rows)}}}}
        # include-render=true adds `render` only for a query with a render operator, which none of these has.
        if partial is not None:
            answer["error"] = {
                "code": "PartialError", "message": "There were some errors when processing your query.",
                "details": [{"code": "EngineError", "message": "Something went wrong processing your query on the "
                                                              "server.",
                             "innererror": {"code": "-2133196797", "message": partial, "severity": 2,
                                            "severityName": "Error"}}]}
        return Response(200, answer)

    def _with_workspaces(self, scope: _Scope, names: Any) -> _Scope | Response:
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return _bad_argument("InvalidArgument", "workspaces must be a list of workspace ids.")
        components = list(scope.components)
        for name in names:
            found = next((w for w in self.telemetry.workspaces.values()
                          if name.lower() in (w.id.lower(), w.name.lower(), w.resource_id.lower())), None)
            if found is None:  # stricter than silently querying fewer workspaces than asked
                return _bad_argument("WorkspaceNotFound", f"Failed to resolve workspace '{name}'.")
            components += [c for c in self._of_workspace(found).components if c not in components]
        return _Scope(components, scope.tables, scope.empty)

    def _take_partial(self) -> str | None:
        partial = self.scenario.partial
        if not partial:
            return None
        if partial.get("times") is not None:
            partial["times"] -= 1
            if partial["times"] <= 0:
                self.scenario.partial = None
        return partial.get("message", "Query execution has exceeded the allowed limits (80DA0003): one of the "
                                      "storage shards did not answer; the results are incomplete.")

    def _encode(self, value: Any, type_: str) -> Any:
        if type_ == "datetime":
            return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.scenario.encoding == "native" or value is None or type_ == "string":
            return value
        if type_ == "bool":
            return "true" if value else "false"
        return str(value)


def _preferences(request: Request) -> dict[str, str]:
    """The `Prefer` header the SDK sends (`wait=N,include-statistics=true,include-render=true`, or empty); a
    preference the service does not know is ignored, as RFC 7240 says."""
    header = request.header("Prefer") or ""
    preferences = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            preferences[name.lower()] = value.strip().lower()
    return preferences


def _claims(token: str) -> dict[str, Any] | None:
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def _instant(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _duration(text: str) -> float | None:
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {unit: float(match[unit] or 0) for unit in "dhms"}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _window(timespan: Any, now: float) -> tuple[float, float] | Response:
    """The body's timespan as (since, until): a duration ends now; an interval is start/end or start/duration."""
    if timespan is None:
        return float("-inf"), float("inf")
    invalid = _bad_argument("InvalidTimespan", f"The timespan {timespan!r} is not an ISO 8601 duration or "
                                               f"interval.")
    if not isinstance(timespan, str):
        return invalid
    if "/" not in timespan:
        duration = _duration(timespan)
        return invalid if duration is None else (now - duration, now)
    start_text, _, end_text = timespan.partition("/")
    start = _instant(start_text)
    end = _instant(end_text) if not end_text.startswith("P") else None
    if end is None and start is not None and end_text.startswith("P"):
        duration = _duration(end_text)
        end = None if duration is None else start + duration
    if start is None or end is None or end < start:
        return invalid
    return start, end
