"""App Service (Microsoft.Web, api-version 2025-05-01) as the emulator serves it, as strictly as Azure does.

Sites with slots, each slot running a release whose /health answers according to whether that release is
broken; the kinds of apps people really run (a single container, a Linux code app, a sidecar app whose image
lives in `sitecontainers`, a container on a reused tag); swap as a long-running operation; restart; site config;
deployments; 409 while another operation runs on the site; App Service's own error body shape. Shapes follow
the official REST examples (local/emulator/reference/).

Where Azure's behaviour is not documented the stricter choice is made, and said so:
  * the swap's 202 carries only `Location` (the spec declares no headers; Microsoft's pipeline task polls
    Location: 202 running, 200 done) and no `Retry-After`, so a client that waits for one sleeps 30 s; a failed
    swap is an HTTP error on the Location URL with App Service's error body. The `Azure-AsyncOperation` form and
    a 202 with no header at all (which the SDK takes for "already done") are scenario variants;
  * Microsoft.Web's own refusals (409 another operation in progress, 400 bad request, a failed swap) use its
    legacy body `{"Code", "Message", "Target", "Details": [..., {"ErrorEntity": {...}}], "Innererror"}`, which the
    SDK cannot parse (it reports "Operation returned an invalid status 'Conflict'"); ARM's own front door errors
    (authentication, api-version, resource not found) use ARM's `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal

from local.emulator.server import Request, Response, arm_error

API_VERSIONS = {"2025-05-01", "2024-11-01", "2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01"}
_SITE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.web/sites/(?P<name>[^/]+)"
    r"(?:/slots/(?P<slot>[^/]+))?(?P<rest>/.*)?$", re.IGNORECASE)
_OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/microsoft\.web/locations/[^/]+/"
                        r"(?P<kind>operations|operationresults)/(?P<id>[^/]+)$", re.IGNORECASE)
SIDECAR_IMAGE = "mcr.microsoft.com/opentelemetry/collector:0.120.0"
AppKind = Literal["container", "code", "sidecar"]


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dotnet_time(moment: datetime) -> str:
    """`12/28/2022 8:57:50 PM`, as App Service writes times into its messages."""
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


def web_error(status: int, code: str, message: str, extended_code: str = "",
              template: str | None = None, parameters: list[str] | None = None,
              headers: dict[str, str] | None = None) -> Response:
    """Microsoft.Web's own error body (not ARM's `{"error": ...}`), as App Service answers its refusals."""
    entity = {"ExtendedCode": extended_code, "MessageTemplate": template or message,
              "Parameters": parameters or [], "Code": code, "Message": message}
    body = {"Code": code, "Message": message, "Target": None,
            "Details": [{"Message": message}, {"Code": code}, {"ErrorEntity": entity}], "Innererror": None}
    return Response(status, body, headers or {})


@dataclass
class Slot:
    name: str
    release: str
    health_port: int = 0
    restarting_until: float = 0.0
    restarts: int = 0
    deployments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Site:
    subscription: str
    resource_group: str
    name: str
    image: str
    location: str = "East US"
    kind: AppKind = "container"
    reused_tag: str | None = None  # container apps deployed as `image:<reused_tag>` whatever the release
    reports_version: bool = True  # whether /health names the release it runs
    slots: dict[str, Slot] = field(default_factory=dict)
    last_swap: dict[str, str] | None = None
    operation: str | None = None  # id of the swap in progress
    busy_until: float = 0.0  # monotonic time until which another operation (a deployment, say) holds the site
    busy_writes: int = 0  # or: how many more write requests it refuses
    busy_operation: str = "Update"
    busy_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    busy_since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Web/sites/{self.name}")

    def tag(self, slot: Slot) -> str:
        return self.reused_tag or slot.release


@dataclass
class Operation:
    id: str
    site: Site
    started: datetime
    due: float
    outcome: str = "Succeeded"  # or "Failed"
    error: dict[str, Any] | None = None  # {"status", "code", "message"} of a failed swap
    status: str = "InProgress"
    ended: datetime | None = None


@dataclass
class WebScenario:
    """What the tests set: which releases are broken, how swaps behave."""

    broken_releases: set[str] = field(default_factory=set)
    swap_seconds: float = 0.2
    # "location": 202 + Location only (the default, as Microsoft's own pipeline task polls it);
    # "async-operation": 202 + Azure-AsyncOperation + Location; "none": 202 with no polling header at all.
    swap_lro: Literal["location", "async-operation", "none"] = "location"
    # The next swaps end Failed with this: {"code", "message"} and, for the Location form, the HTTP "status"
    # the Location URL answers (default 400); "times": how many swaps (default: all).
    swap_failure: dict[str, Any] | None = None
    restart_seconds: float = 0.2
    retry_after: str | None = None  # Retry-After on the swap's 202 and its polls; None: not sent (strict)


class AppService:
    def __init__(self, base_url: Callable[[], str]):
        self._base_url = base_url
        self.sites: dict[str, Site] = {}
        self.operations: dict[str, Operation] = {}
        self.scenario = WebScenario()
        self.lock = threading.RLock()

    # ----- scenario set-up -------------------------------------------------------------------------
    def add_site(self, site: Site) -> Site:
        with self.lock:
            self.sites[site.name.lower()] = site
        return site

    def site(self, name: str) -> Site:
        return self.sites[name.lower()]

    def healthy(self, site: Site, slot: Slot) -> bool:
        return slot.release not in self.scenario.broken_releases and time.monotonic() >= slot.restarting_until

    def hold(self, name: str, seconds: float = 0.0, operation: str = "Update", writes: int = 0) -> None:
        """Another operation (a deployment, a config change) runs on the site for `seconds`, or for the next
        `writes` write requests: writes answer 409 meanwhile."""
        with self.lock:
            site = self.site(name)
            site.busy_until, site.busy_writes = time.monotonic() + seconds, writes
            site.busy_operation, site.busy_id, site.busy_since = operation, str(uuid.uuid4()), datetime.now(timezone.utc)

    # ----- ARM routing -----------------------------------------------------------------------------
    def route(self, request: Request) -> Response | None:
        """The response for an App Service request, or None if the path is not App Service's."""
        operation = _OPERATION.match(request.path)
        if operation:
            return self._operation(operation["kind"].lower(), operation["id"])
        match = _SITE.match(request.path)
        if not match:
            return None
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return arm_error(400, "InvalidApiVersionParameter",
                             f"The api-version '{version}' is invalid. The supported versions are "
                             f"'{', '.join(sorted(API_VERSIONS, reverse=True))}'.")
        with self.lock:
            site = self.sites.get(match["name"].lower())
            if site is None or site.resource_group.lower() != match["rg"].lower():
                return arm_error(404, "ResourceNotFound",
                                 f"The Resource 'Microsoft.Web/sites/{match['name']}' under resource group "
                                 f"'{match['rg']}' was not found. For more details please go to "
                                 f"https://aka.ms/ARMResourceNotFoundFix")
            slot_name = (match["slot"] or "production").lower()
            rest = (match["rest"] or "").lower().rstrip("/")
            if match["slot"] is None and rest == "/slots" and request.method == "GET":
                return Response(200, {"value": [self._site_body(site, s) for n, s in site.slots.items()
                                                if n != "production"], "nextLink": None})
            slot = site.slots.get(slot_name)
            if slot is None:
                return arm_error(404, "ResourceNotFound",
                                 f"The Resource 'Microsoft.Web/sites/{site.name}/slots/{match['slot']}' under "
                                 f"resource group '{site.resource_group}' was not found.")
            return self._slot_route(request, site, slot, rest)

    def _slot_route(self, request: Request, site: Site, slot: Slot, rest: str) -> Response:
        method = request.method
        if rest == "" and method == "GET":
            return Response(200, self._site_body(site, slot))
        if rest == "/config/web" and method == "GET":
            return Response(200, self._config_body(site, slot))
        if rest == "/sitecontainers" and method == "GET":
            return Response(200, {"value": self._containers(site, slot), "nextLink": None})
        if rest == "/deployments" and method == "GET":
            return Response(200, {"value": [self._deployment_body(site, slot, d) for d in slot.deployments],
                                  "nextLink": None})
        writes = {("/config/web", "PUT"), ("/config/web", "PATCH"), ("/slotsswap", "POST"), ("/restart", "POST")}
        if (rest, method) in writes:
            busy = self._busy(site)
            if busy is not None:
                return busy
        if rest == "/config/web" and method in ("PUT", "PATCH"):
            return self._update_config(request, site, slot)
        if rest == "/slotsswap" and method == "POST":
            return self._swap(request, site, slot)
        if rest == "/restart" and method == "POST":
            slot.restarting_until = time.monotonic() + self.scenario.restart_seconds
            slot.restarts += 1
            if request.query.get("synchronous", "").lower() == "true":
                time.sleep(self.scenario.restart_seconds)
            return Response(200)
        known = ("", "/config/web", "/slotsswap", "/restart", "/deployments", "/sitecontainers")
        return arm_error(405 if rest in known else 404, "NotSupported" if rest else "NotFound",
                         f"{method} {request.path} is not supported here")

    def _busy(self, site: Site) -> Response | None:
        """409 in App Service's words while a swap or another operation runs on the site."""
        swapping = site.operation and self.operations[site.operation].status == "InProgress"
        if swapping:
            operation = self.operations[site.operation]
            ident, name, since = operation.id, "SwapSiteSlots", operation.started
        elif time.monotonic() < site.busy_until or site.busy_writes > 0:
            site.busy_writes = max(0, site.busy_writes - 1)
            ident, name, since = site.busy_id, site.busy_operation, site.busy_since
        else:
            return None
        details = (f"Id: {ident}, OperationName: {name}, CreatedTime: {_dotnet_time(since)}, "
                   f"RequestId: {uuid.uuid4()}, EntityType: 3")
        template = "Cannot modify this site because another operation is in progress. Details: {0}"
        return web_error(409, "Conflict", template.format(details), "59203", template, [details])

    # ----- swap ------------------------------------------------------------------------------------
    def _swap(self, request: Request, site: Site, source: Slot) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [name for name in ("targetSlot", "preserveVnet") if name not in body]
        if missing:
            return web_error(400, "BadRequest",
                             f"The parameter(s) {', '.join(missing)} of CsmSlotEntity are required.", "51021")
        target = site.slots.get(str(body["targetSlot"]).lower())
        if target is None:
            return arm_error(404, "ResourceNotFound", f"Cannot find slot '{body['targetSlot']}' for site '{site.name}'.")
        if target is source:
            return web_error(400, "BadRequest", "Source and target slots of a swap must differ.", "04047")
        operation = Operation(str(uuid.uuid4()), site, datetime.now(timezone.utc),
                              time.monotonic() + self.scenario.swap_seconds)
        failure = self.scenario.swap_failure
        if failure:
            operation.outcome, operation.error = "Failed", dict(failure)
            if failure.get("times") is not None:
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self.scenario.swap_failure = None
        self.operations[operation.id] = operation
        site.operation = operation.id
        timer = threading.Timer(self.scenario.swap_seconds, self._finish_swap, (site, source, target, operation))
        timer.daemon = True
        timer.start()
        return Response(202, None, self._lro_headers(site, operation))

    def _finish_swap(self, site: Site, source: Slot, target: Slot, operation: Operation) -> None:
        with self.lock:
            operation.status, operation.ended = operation.outcome, datetime.now(timezone.utc)
            if operation.outcome != "Succeeded":
                return
            source.release, target.release = target.release, source.release
            source.deployments, target.deployments = target.deployments, source.deployments
            site.last_swap = {"timestampUtc": iso(operation.ended), "sourceSlotName": source.name,
                              "destinationSlotName": target.name}

    def _lro_headers(self, site: Site, operation: Operation) -> dict[str, str]:
        base = (f"{self._base_url()}/subscriptions/{site.subscription}/providers/Microsoft.Web/locations/"
                f"{site.location.replace(' ', '')}")
        headers: dict[str, str] = {}
        if self.scenario.swap_lro == "none":
            return headers
        if self.scenario.swap_lro == "async-operation":
            headers["Azure-AsyncOperation"] = f"{base}/operations/{operation.id}?api-version=2025-05-01"
        headers["Location"] = f"{base}/operationResults/{operation.id}?api-version=2025-05-01"
        if self.scenario.retry_after is not None:
            headers["Retry-After"] = self.scenario.retry_after
        return headers

    def _operation(self, kind: str, operation_id: str) -> Response:
        with self.lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return arm_error(404, "NotFound", f"Operation {operation_id} not found.")
            retry = {"Retry-After": self.scenario.retry_after} if self.scenario.retry_after is not None else {}
            error = operation.error or {}
            if kind == "operationresults":
                if operation.status == "InProgress":
                    return Response(202, None, {**self._lro_headers(operation.site, operation), **retry})
                if operation.status == "Succeeded":
                    return Response(200)
                return web_error(int(error.get("status", 400)), error.get("code", "Failed"),
                                 error.get("message", "The operation failed."), error.get("extended_code", ""))
            body: dict[str, Any] = {"id": f"/operations/{operation.id}", "name": operation.id,
                                    "status": operation.status, "startTime": iso(operation.started)}
            if operation.ended:
                body["endTime"] = iso(operation.ended)
            if operation.status == "Failed":
                body["error"] = {"code": error.get("code", "Failed"),
                                 "message": error.get("message", "The operation failed.")}
            return Response(200, body, retry if operation.status == "InProgress" else {})

    # ----- bodies (shaped like the official examples) -------------------------------------------------
    def _site_body(self, site: Site, slot: Slot) -> dict[str, Any]:
        production = slot.name == "production"
        host = f"127.0.0.1:{slot.health_port}"
        public = f"{site.name}{'' if production else '-' + slot.name}.azurewebsites.net"
        properties: dict[str, Any] = {
            "state": "Running", "hostNames": [host], "repositorySiteName": site.name, "usageState": "Normal",
            "enabled": True, "enabledHostNames": [host, public.replace(".azure", ".scm.azure")],
            "availabilityState": "Normal",
            "hostNameSslStates": [{"name": host, "sslState": "Disabled", "hostType": "Standard"}],
            "serverFarmId": f"/subscriptions/{site.subscription}/resourceGroups/{site.resource_group}"
                            f"/providers/Microsoft.Web/serverfarms/{site.name}-plan",
            "reserved": True, "isXenon": False, "hyperV": False, "lastModifiedTimeUtc": iso(datetime.now(timezone.utc)),
            "siteConfig": {"numberOfWorkers": 1, "linuxFxVersion": "", "alwaysOn": True, "http20Enabled": True},
            "defaultHostName": host, "httpsOnly": True, "redundancyMode": "None",
        }
        if site.last_swap:
            properties["slotSwapStatus"] = dict(site.last_swap)
        return {"id": site.id + ("" if production else f"/slots/{slot.name}"),
                "name": site.name if production else f"{site.name}/{slot.name}",
                "type": "Microsoft.Web/sites" if production else "Microsoft.Web/sites/slots",
                "kind": self._kind(site), "location": site.location, "properties": properties}

    @staticmethod
    def _kind(site: Site) -> str:
        return "app,linux" if site.kind == "code" else "app,linux,container"

    def _fx_version(self, site: Site, slot: Slot) -> str:
        if site.kind == "code":
            return "PYTHON|3.11"
        if site.kind == "sidecar":
            return "SITECONTAINERS"
        return f"DOCKER|{site.image}:{site.tag(slot)}"

    def _config_body(self, site: Site, slot: Slot) -> dict[str, Any]:
        prefix = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}")
        return {"id": f"{prefix}/config/web", "name": "web", "type": "Microsoft.Web/sites/config",
                "kind": self._kind(site),
                "properties": {"numberOfWorkers": 1, "netFrameworkVersion": "v4.0",
                               "linuxFxVersion": self._fx_version(site, slot), "alwaysOn": True,
                               "http20Enabled": True, "minTlsVersion": "1.2", "scmMinTlsVersion": "1.2",
                               "ftpsState": "Disabled", "healthCheckPath": "/health"}}

    def _containers(self, site: Site, slot: Slot) -> list[dict[str, Any]]:
        """`sites/sitecontainers`: the main container and a sidecar for sidecar apps; none otherwise."""
        if site.kind != "sidecar":
            return []
        prefix = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}")
        created = iso(datetime.now(timezone.utc) - timedelta(days=3))

        def container(name: str, image: str, main: bool, port: str) -> dict[str, Any]:
            return {"id": f"{prefix}/sitecontainers/{name}", "name": name,
                    "type": "Microsoft.Web/sites/sitecontainers",
                    "properties": {"image": image, "isMain": main, "targetPort": port, "authType": "SystemIdentity",
                                   "createdTime": created, "lastModifiedTime": created,
                                   "inheritAppSettingsAndConnectionStrings": main}}

        return [container("otel-collector", SIDECAR_IMAGE, False, "4317"),
                container("main", f"{site.image}:{site.tag(slot)}", True, "8000")]

    def _update_config(self, request: Request, site: Site, slot: Slot) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        fx = (body.get("properties") or {}).get("linuxFxVersion")
        if fx:
            image, _, release = fx.removeprefix("DOCKER|").rpartition(":")
            if not image or not release:
                return web_error(400, "BadRequest", f"linuxFxVersion {fx!r} is not DOCKER|<image>:<tag>", "04022")
            slot.release = release
            slot.deployments.append(deployment_record(release, author="config update"))
        return Response(200, self._config_body(site, slot))

    def _deployment_body(self, site: Site, slot: Slot, deployment: dict[str, Any]) -> dict[str, Any]:
        prefix = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}")
        return {"id": f"{prefix}/deployments/{deployment['id']}", "name": deployment["id"],
                "type": "Microsoft.Web/sites/deployments",
                "properties": {"status": 4, "message": deployment.get("message", ""), "author": deployment["author"],
                               "deployer": "GitHub Actions", "start_time": iso(deployment["start"]),
                               "end_time": iso(deployment["end"]), "active": deployment is slot.deployments[-1]}}

    # ----- the slots' own /health -------------------------------------------------------------------
    def health_route(self, site: Site, slot_name: str) -> Callable[[Request], Response]:
        def route(request: Request) -> Response:
            slot = site.slots[slot_name]
            if request.path.rstrip("/") not in ("/health", "/health/detailed"):
                return Response(404, {"error": "not found"})
            version = {"version": slot.release} if site.reports_version else {}
            if time.monotonic() < slot.restarting_until:
                return Response(503, {"status": "restarting", **version})
            if slot.release in self.scenario.broken_releases:
                return Response(503, {"status": "unhealthy", **version,
                                      "checks": {"database": "error: relation \"orders_v2\" does not exist"}})
            return Response(200, {"status": "healthy", **version, "slot": slot.name})

        return route


def deployment_record(release: str, author: str = "GitHub Actions", minutes_ago: float = 0) -> dict[str, Any]:
    """A Kudu-style deployment record of `release` (its id is unique per deployment, as App Service's are)."""
    end = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return {"id": uuid.uuid4().hex, "start": end - timedelta(seconds=40), "end": end, "author": author,
            "message": f"Deploy {release}"}


def recent(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)
