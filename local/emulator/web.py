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
    (authentication, api-version, resource not found) use ARM's `{"error": {"code", "message"}}`;
  * Key Vault references (references.py): the running app keeps the values it started with. A restart starts it
    with the cached resolutions, refetched only once older than the cache's 24 h (App Service documents the
    24 h; that a plain restart does not refetch is the strict reading of user reports); the references refresh
    (`POST config/configreferences/appsettings/refresh`, undocumented in the spec) answers 200 with no body and
    refetches shortly after (`reference_refresh_seconds`), without restarting: read the references until
    `activeVersion` is the version you wrote, then restart. Changing the app settings refetches at once and
    restarts the app, as App Service does. App settings stay with their slot in a swap (the docs advise slot
    settings for references);
  * `/health/detailed` of a slot whose app settings name a database (`Site.database_setting`, `DATABASE_URL`)
    connects for real to the database that setting's value, as the running app sees it, names.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal

from local.emulator import references
from local.emulator.keyvault import KeyVault
from local.emulator.server import Request, Response, arm_error

# 2022-03-01: the version Microsoft's docs give for the Key Vault references refresh.
API_VERSIONS = {"2025-05-01", "2024-11-01", "2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01", "2022-03-01"}
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
    app_settings: dict[str, str] = field(default_factory=dict)  # as written (references unresolved)
    references: dict[str, references.Resolution] = field(default_factory=dict)  # the cache, by setting name
    environment: dict[str, str] = field(default_factory=dict)  # what the running app sees


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
    database_setting: str = "DATABASE_URL"  # the app setting /health/detailed connects with

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
    reference_refresh_seconds: float = 0.2  # a references refresh refetches this long after it was asked
    reference_cache_seconds: float = 24 * 3600  # a restart refetches the references cached longer than this


class AppService:
    def __init__(self, base_url: Callable[[], str]):
        self._base_url = base_url
        self.sites: dict[str, Site] = {}
        self.operations: dict[str, Operation] = {}
        self.scenario = WebScenario()
        self.lock = threading.RLock()
        self.vault: KeyVault | None = None  # where Key Vault references resolve
        self.clock: Callable[[], float] = time.time
        # Called with the site whenever what one of its slots runs changes (Application Insights follows it).
        self.listeners: list[Callable[[Site], None]] = []

    # ----- scenario set-up -------------------------------------------------------------------------
    def add_site(self, site: Site) -> Site:
        with self.lock:
            self.sites[site.name.lower()] = site
        return site

    def site(self, name: str) -> Site:
        return self.sites[name.lower()]

    def healthy(self, site: Site, slot: Slot) -> bool:
        return slot.release not in self.scenario.broken_releases and time.monotonic() >= slot.restarting_until

    def set_app_settings(self, name: str, settings: dict[str, str], slot: str | None = None) -> None:
        """Write the app settings of one slot (every slot when None) and start the app with them, references
        resolved now: the state of an app that has been running with these settings."""
        with self.lock:
            site = self.site(name)
            for slot_name, target in site.slots.items():
                if slot is None or slot_name == slot:
                    target.app_settings = dict(settings)
                    self._refetch(target)
                    self._start(target)

    def age_references(self, name: str, seconds: float, slot: str = "production") -> None:
        """Let `seconds` pass for the reference cache of a slot (its next restart refetches once it is stale)."""
        with self.lock:
            for resolution in self.site(name).slots[slot].references.values():
                resolution.resolved_at -= seconds

    def _refetch(self, slot: Slot, only_stale: bool = False) -> None:
        now = self.clock()
        for key, value in slot.app_settings.items():
            cached = slot.references.get(key)
            if not references.is_reference(value):
                continue
            if only_stale and cached and cached.reference == value and \
                    now - cached.resolved_at < self.scenario.reference_cache_seconds:
                continue
            slot.references[key] = references.resolve(value, self.vault, now) if self.vault else \
                references.Resolution(value, "VaultNotFound", value, details="no Key Vault in this emulator")
        for key in set(slot.references) - {k for k, v in slot.app_settings.items() if references.is_reference(v)}:
            del slot.references[key]

    def _start(self, slot: Slot) -> None:
        """The app (re)starts: it reads its settings, references as last resolved."""
        slot.environment = {key: slot.references[key].value if key in slot.references else value
                            for key, value in slot.app_settings.items()}

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
        if rest == "/config/appsettings/list" and method == "POST":
            return Response(200, self._settings_body(site, slot))
        if rest.startswith("/config/configreferences/appsettings") and method == "GET":
            return self._references(request, site, slot, rest)
        writes = {("/config/web", "PUT"), ("/config/web", "PATCH"), ("/slotsswap", "POST"), ("/restart", "POST"),
                  ("/config/appsettings", "PUT"), ("/config/configreferences/appsettings/refresh", "POST")}
        if (rest, method) in writes:
            busy = self._busy(site)
            if busy is not None:
                return busy
        if rest == "/config/web" and method in ("PUT", "PATCH"):
            return self._update_config(request, site, slot)
        if rest == "/slotsswap" and method == "POST":
            return self._swap(request, site, slot)
        if rest == "/restart" and method == "POST":
            self._restart(slot)
            if request.query.get("synchronous", "").lower() == "true":
                time.sleep(self.scenario.restart_seconds)
            return Response(200)
        if rest == "/config/appsettings" and method == "PUT":
            body = request.body if isinstance(request.body, dict) else {}
            properties = body.get("properties")
            if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
                return web_error(400, "BadRequest", "The app settings must be {\"properties\": {name: string}}.",
                                 "04022")
            slot.app_settings = dict(properties)
            self._refetch(slot)  # a configuration change refetches every reference and restarts the app
            self._restart(slot, refetch=False)
            return Response(200, self._settings_body(site, slot))
        if rest == "/config/configreferences/appsettings/refresh" and method == "POST":
            timer = threading.Timer(self.scenario.reference_refresh_seconds, self._refresh, (slot,))
            timer.daemon = True
            timer.start()
            return Response(200)
        known = ("", "/config/web", "/slotsswap", "/restart", "/deployments", "/sitecontainers",
                 "/config/appsettings", "/config/appsettings/list", "/config/configreferences/appsettings",
                 "/config/configreferences/appsettings/refresh")
        return arm_error(405 if rest in known else 404, "NotSupported" if rest else "NotFound",
                         f"{method} {request.path} is not supported here")

    def _restart(self, slot: Slot, refetch: bool = True) -> None:
        """The app stops and starts again with its cached references (refetching those cached too long)."""
        slot.restarting_until = time.monotonic() + self.scenario.restart_seconds
        slot.restarts += 1
        if refetch:
            self._refetch(slot, only_stale=True)
        self._start(slot)

    def _refresh(self, slot: Slot) -> None:
        with self.lock:
            self._refetch(slot)

    def _settings_body(self, site: Site, slot: Slot) -> dict[str, Any]:
        prefix = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}")
        return {"id": f"{prefix}/config/appsettings", "name": "appsettings", "type": "Microsoft.Web/sites/config",
                "properties": dict(slot.app_settings)}

    def _references(self, request: Request, site: Site, slot: Slot, rest: str) -> Response:
        config_id = site.id + ("" if slot.name == "production" else f"/slots/{slot.name}") + "/config"
        key = rest.removeprefix("/config/configreferences/appsettings").strip("/")
        if not key:
            return Response(200, {"value": [references.reference_body(config_id, name, resolution)
                                            for name, resolution in slot.references.items()], "nextLink": None})
        if key == "refresh":
            return arm_error(405, "NotSupported", f"GET {request.path} is not supported here")
        wanted = request.path.rstrip("/").rsplit("/", 1)[-1]  # the key as sent (rest is lower-cased)
        found = next((name for name in slot.references if name.lower() == wanted.lower()), None)
        if found is None:
            return arm_error(404, "NotFound", f"App setting '{wanted}' of '{site.name}' is not a Key Vault reference.")
        return Response(200, references.reference_body(config_id, found, slot.references[found]))

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
            self._changed(site)

    def _changed(self, site: Site) -> None:
        for listener in list(self.listeners):
            listener(site)

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
            self._changed(site)
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
            if request.path.rstrip("/") == "/health/detailed" and site.database_setting in slot.app_settings:
                ok, checks = references.database_check(slot.environment.get(site.database_setting))
                return Response(200 if ok else 503, {"status": "healthy" if ok else "unhealthy", **version,
                                                     "slot": slot.name, "checks": checks})
            return Response(200, {"status": "healthy", **version, "slot": slot.name})

        return route


def deployment_record(release: str, author: str = "GitHub Actions", minutes_ago: float = 0) -> dict[str, Any]:
    """A Kudu-style deployment record of `release` (its id is unique per deployment, as App Service's are)."""
    end = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return {"id": uuid.uuid4().hex, "start": end - timedelta(seconds=40), "end": end, "author": author,
            "message": f"Deploy {release}"}


def recent(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)
