"""App Service (Microsoft.Web, api-version 2025-05-01) as the emulator serves it: sites with slots, each slot
running a release whose /health answers according to whether that release is broken; swap (long-running,
Azure-AsyncOperation + Location), restart, site config, deployments. Shapes follow the official REST
examples (tests/emulator/reference/)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from tests.emulator.server import Request, Response, arm_error

API_VERSIONS = {"2025-05-01", "2024-11-01", "2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01"}
_SITE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.web/sites/(?P<name>[^/]+)"
    r"(?:/slots/(?P<slot>[^/]+))?(?P<rest>/.*)?$", re.IGNORECASE)
_OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/microsoft\.web/locations/[^/]+/"
                        r"(?P<kind>operations|operationresults)/(?P<id>[^/]+)$", re.IGNORECASE)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
    slots: dict[str, Slot] = field(default_factory=dict)
    last_swap: dict[str, str] | None = None
    operation: str | None = None  # id of the swap in progress

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Web/sites/{self.name}")


@dataclass
class Operation:
    id: str
    started: datetime
    due: float
    outcome: str = "Succeeded"  # or "Failed"
    error: dict[str, str] | None = None
    status: str = "InProgress"
    ended: datetime | None = None


@dataclass
class WebScenario:
    """What the tests set: which releases are broken, how swaps behave."""

    broken_releases: set[str] = field(default_factory=set)
    swap_seconds: float = 0.2
    swap_failure: dict[str, str] | None = None  # {"code", "message"}: the next swaps end Failed with this
    restart_seconds: float = 0.2
    retry_after: str = "0"


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
        if rest == "/deployments" and method == "GET":
            return Response(200, {"value": [self._deployment_body(site, slot, d) for d in slot.deployments],
                                  "nextLink": None})
        return arm_error(405 if rest in ("", "/config/web", "/slotsswap", "/restart", "/deployments") else 404,
                         "NotSupported" if rest else "NotFound", f"{method} {request.path} is not supported here")

    # ----- swap ------------------------------------------------------------------------------------
    def _swap(self, request: Request, site: Site, source: Slot) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [name for name in ("targetSlot", "preserveVnet") if name not in body]
        if missing:
            return arm_error(400, "BadRequest", f"The parameter(s) {', '.join(missing)} of CsmSlotEntity are required.")
        target = site.slots.get(str(body["targetSlot"]).lower())
        if target is None:
            return arm_error(404, "ResourceNotFound", f"Cannot find slot '{body['targetSlot']}' for site '{site.name}'.")
        if target is source:
            return arm_error(400, "BadRequest", "Source and target slots of a swap must differ.")
        if site.operation and self.operations[site.operation].status == "InProgress":
            return arm_error(409, "Conflict", f"Cannot modify this site because another operation is in progress. "
                                              f"Details: Id: {site.operation}, OperationName: SwapSiteSlots")
        operation = Operation(str(uuid.uuid4()), datetime.now(timezone.utc),
                              time.monotonic() + self.scenario.swap_seconds)
        if self.scenario.swap_failure:
            operation.outcome, operation.error = "Failed", dict(self.scenario.swap_failure)
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
        return {"Azure-AsyncOperation": f"{base}/operations/{operation.id}?api-version=2025-05-01",
                "Location": f"{base}/operationResults/{operation.id}?api-version=2025-05-01",
                "Retry-After": self.scenario.retry_after}

    def _operation(self, kind: str, operation_id: str) -> Response:
        with self.lock:
            operation = self.operations.get(operation_id)
            if operation is None:
                return arm_error(404, "NotFound", f"Operation {operation_id} not found.")
            if kind == "operationresults":
                if operation.status == "InProgress":
                    return Response(202, None, {"Retry-After": self.scenario.retry_after})
                return Response(200) if operation.status == "Succeeded" else arm_error(
                    400, operation.error["code"], operation.error["message"])
            body: dict[str, Any] = {"id": f"/operations/{operation.id}", "name": operation.id,
                                    "status": operation.status, "startTime": iso(operation.started)}
            if operation.ended:
                body["endTime"] = iso(operation.ended)
            if operation.status == "Failed":
                body["error"] = operation.error
            return Response(200, body, {"Retry-After": self.scenario.retry_after}
                            if operation.status == "InProgress" else {})

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
                "kind": "app,linux,container", "location": site.location, "properties": properties}

    def _config_body(self, site: Site, slot: Slot) -> dict[str, Any]:
        prefix = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}")
        return {"id": f"{prefix}/config/web", "name": "web", "type": "Microsoft.Web/sites/config",
                "kind": "app,linux,container",
                "properties": {"numberOfWorkers": 1, "netFrameworkVersion": "v4.0",
                               "linuxFxVersion": f"DOCKER|{site.image}:{slot.release}", "alwaysOn": True,
                               "http20Enabled": True, "minTlsVersion": "1.2", "scmMinTlsVersion": "1.2",
                               "ftpsState": "Disabled", "healthCheckPath": "/health"}}

    def _update_config(self, request: Request, site: Site, slot: Slot) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        fx = (body.get("properties") or {}).get("linuxFxVersion")
        if fx:
            image, _, release = fx.removeprefix("DOCKER|").rpartition(":")
            if not image or not release:
                return arm_error(400, "BadRequest", f"linuxFxVersion {fx!r} is not DOCKER|<image>:<tag>")
            slot.release = release
            slot.deployments.append({"id": uuid.uuid4().hex, "start": datetime.now(timezone.utc),
                                     "end": datetime.now(timezone.utc), "author": "config update"})
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
            if time.monotonic() < slot.restarting_until:
                return Response(503, {"status": "restarting", "version": slot.release})
            if slot.release in self.scenario.broken_releases:
                return Response(503, {"status": "unhealthy", "version": slot.release,
                                      "checks": {"database": "error: relation \"orders_v2\" does not exist"}})
            return Response(200, {"status": "healthy", "version": slot.release, "slot": slot.name})

        return route


def recent(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)
