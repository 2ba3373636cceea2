"""The resources of the emulated resource groups, as simple JSON property bags, with the two records Azure keeps
of every write: Resource Graph's change log (`resourcechanges`) and the activity log.

Deployments (deployments.py) read and write them; Resource Graph (resource_graph.py) and the activity log
(activity_log.py) answer from them. Scenario set-up writes through the same path, back-dated, so a history of
deployments and hand-made changes reads the same whichever way it came.

What Azure records where (azure-facts-next.md §8):
  * a write to a resource is an `Update` (or `Create` / `Delete`) in `resourcechanges`, with the properties that
    changed, and a `<type>/write` (or `/delete`) in the activity log, twice: `Started`, then `Succeeded`, under one
    correlation id, as the activity log records a request's begin and end;
  * App Service's settings and configuration (`Microsoft.Web/sites/config`: app settings, `web`, connection
    strings) are **not** in `resourcechanges`: only the activity log's `Microsoft.Web/sites/config/write` says
    they changed, and it says who and when, not what.
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
# Types whose changes Resource Graph does not see (only the activity log does).
UNTRACKED_TYPES = {"microsoft.web/sites/config", "microsoft.web/sites/slots/config"}
# Whoever calls the emulator's ARM front door: the responder's managed identity, by its object id (the activity
# log's `caller` for a service principal is its object id, not a name).
RESPONDER_PRINCIPAL = "9f4b6c2e-3d1a-4e8b-a6f0-5c7d2e9b1a43"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def arm_time(moment: datetime) -> str:
    """`2026-12-01T22:46:46.1920000Z`: seven fractional digits, as ARM writes its timestamps."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def resource_id(subscription: str, resource_group: str, type_: str, name: str) -> str:
    """The ARM id of `type_` (`Microsoft.Web/sites/config`) named `name` (`app/appsettings`); ValueError when the
    name has not one segment per type segment after the namespace."""
    namespace, *types = type_.split("/")
    names = name.split("/")
    if not types or len(types) != len(names) or not all(names):
        raise ValueError(f"the resource name '{name}' does not match the type '{type_}': a type with "
                         f"{len(types)} segment(s) after the namespace needs a name of as many segments")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{namespace}/{path}"


@dataclass
class ArmResource:
    id: str
    type: str
    name: str
    resource_group: str
    subscription: str
    location: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    sku: dict[str, Any] | None = None
    kind: str | None = None
    api_version: str | None = None

    def body(self) -> dict[str, Any]:
        """The resource as ARM shows it (and what-if's `before` / `after`)."""
        body: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.api_version:
            body["apiVersion"] = self.api_version
        for key, value in (("location", self.location), ("kind", self.kind), ("sku", self.sku),
                           ("tags", self.tags)):
            if value is not None:
                body[key] = copy.deepcopy(value)
        body["properties"] = copy.deepcopy(self.properties)
        return body

    def state(self) -> dict[str, Any]:
        """What a deployment can change, the part change records and what-if compare."""
        body = self.body()
        for key in ("id", "name", "type", "apiVersion"):
            body.pop(key, None)
        return body


@dataclass
class ResourceGroup:
    subscription: str
    name: str
    location: str = "eastus"

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.name}"


@dataclass
class ResourceChange:
    """One row of Resource Graph's `resourcechanges`."""

    change_id: str
    target: ArmResource
    change_type: str  # Create | Update | Delete
    changes: dict[str, dict[str, str]]
    timestamp: datetime
    changed_by: str
    changed_by_type: str
    client_type: str
    operation: str
    correlation_id: str
    recorded: datetime  # when Azure recorded it (visibility is measured from here)


@dataclass
class ActivityEvent:
    """One administrative event of the activity log."""

    event_id: str
    resource_id: str
    resource_group: str
    subscription: str
    operation: str  # Microsoft.Web/sites/config/write
    status: str  # Started | Accepted | Succeeded | Failed
    sub_status: str
    event_name: str  # BeginRequest | EndRequest
    caller: str
    timestamp: datetime
    correlation_id: str
    method: str
    recorded: datetime
    properties: dict[str, str] = field(default_factory=dict)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a JSON value: {"properties.sku.name": "B1", "tags.env": "prod"}; lists are leaves."""
    if isinstance(value, dict) and value:
        leaves: dict[str, Any] = {}
        for key, child in value.items():
            leaves.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return leaves
    return {prefix: value} if prefix else {}


def _as_change_value(value: Any) -> str:
    """Resource Graph writes change values as strings, a missing one as "null" (the documented example's
    `"previousValue": "null"`): a consumer never gets a typed value, so the emulator gives none either."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)


class ResourceWorld:
    """The emulated resource groups, their resources, and the change log and activity log of every write."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.groups: dict[tuple[str, str], ResourceGroup] = {}
        self.resources: dict[str, ArmResource] = {}
        self.changes: list[ResourceChange] = []
        self.events: list[ActivityEvent] = []
        # Seconds between a write and its record becoming visible to queries (Azure: "less than five minutes"
        # for Resource Graph; the activity log is similar). 0 by default; a test can show a change too recent.
        self.change_latency = 0.0
        self.event_latency = 0.0

    # ----- scenario set-up -------------------------------------------------------------------------
    def add_group(self, subscription: str, name: str, location: str = "eastus") -> ResourceGroup:
        with self.lock:
            group = ResourceGroup(subscription, name, location)
            self.groups[(subscription.lower(), name.lower())] = group
            return group

    def group(self, subscription: str, name: str) -> ResourceGroup | None:
        return self.groups.get((subscription.lower(), name.lower()))

    def get(self, resource_id_: str) -> ArmResource | None:
        return self.resources.get(resource_id_.lower())

    def in_group(self, group: ResourceGroup) -> list[ArmResource]:
        prefix = group.id.lower() + "/providers/"
        return [r for key, r in self.resources.items() if key.startswith(prefix)]

    # ----- writes (every write is recorded where Azure records it) -----------------------------------
    def put(self, group: ResourceGroup, type_: str, name: str, *, location: str | None = None,
            properties: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
            sku: dict[str, Any] | None = None, kind: str | None = None, api_version: str | None = None,
            by: str = RESPONDER_PRINCIPAL, by_type: str = "AppId", client: str = "Azure Resource Manager",
            at: datetime | None = None, correlation_id: str | None = None) -> ArmResource:
        """Create or replace (PUT semantics: what is not given is gone) a resource, recording the write."""
        with self.lock:
            rid = resource_id(group.subscription, group.name, type_, name)
            new = ArmResource(rid, type_, name, group.name, group.subscription, location,
                              copy.deepcopy(properties or {}), copy.deepcopy(tags), copy.deepcopy(sku), kind,
                              api_version)
            old = self.resources.get(rid.lower())
            if old is not None:
                new.id, new.type, new.name = old.id, old.type, old.name  # ARM keeps the casing it was created with
            self.resources[rid.lower()] = new
            self._record(old, new, by=by, by_type=by_type, client=client, at=at, correlation_id=correlation_id,
                         method="PUT")
            return new

    def patch(self, resource_id_: str, *, by: str, properties: dict[str, Any] | None = None,
              tags: dict[str, str] | None = None, sku: dict[str, Any] | None = None, by_type: str = "User",
              client: str = "Azure Portal", at: datetime | None = None) -> ArmResource:
        """Change some properties of an existing resource by hand (a person in the portal, say), recorded."""
        with self.lock:
            old = self.resources[resource_id_.lower()]
            new = copy.deepcopy(old)
            _merge(new.properties, properties or {})
            if tags is not None:
                new.tags = {**(new.tags or {}), **tags}
            if sku is not None:
                new.sku = {**(new.sku or {}), **sku}
            self.resources[resource_id_.lower()] = new
            self._record(old, new, by=by, by_type=by_type, client=client, at=at, method="PATCH")
            return new

    def delete(self, resource_id_: str, *, by: str = RESPONDER_PRINCIPAL, by_type: str = "AppId",
               client: str = "Azure Resource Manager", at: datetime | None = None,
               correlation_id: str | None = None) -> None:
        """Delete a resource and its child resources, recording each delete."""
        with self.lock:
            old = self.resources.pop(resource_id_.lower(), None)
            if old is None:
                return
            for key in [k for k in self.resources if k.startswith(resource_id_.lower() + "/")]:
                self.delete(self.resources[key].id, by=by, by_type=by_type, client=client, at=at,
                            correlation_id=correlation_id)
            self._record(old, None, by=by, by_type=by_type, client=client, at=at, correlation_id=correlation_id,
                         method="DELETE")

    def _record(self, old: ArmResource | None, new: ArmResource | None, *, by: str, by_type: str, client: str,
                at: datetime | None, method: str, correlation_id: str | None = None) -> None:
        when = at or utcnow()
        target = new or old
        assert target is not None
        correlation = correlation_id or str(uuid.uuid4())
        before, after = flatten(old.state() if old else {}), flatten(new.state() if new else {})
        diff = {path: {"previousValue": _as_change_value(before.get(path)),
                       "newValue": _as_change_value(after.get(path))}
                for path in sorted(set(before) | set(after)) if before.get(path) != after.get(path)}
        operation = f"{target.type}/{'delete' if new is None else 'write'}"
        # The activity log has every request, a write that changes nothing included; Resource Graph records a
        # change only when something changed, and never for the types it does not track.
        self.log(target, operation, by=by, at=when, correlation_id=correlation, method=method)
        if old is not None and new is not None and not diff:
            return
        if target.type.lower() not in UNTRACKED_TYPES:
            change_type = "Create" if old is None else "Delete" if new is None else "Update"
            self.changes.append(ResourceChange(
                f"{int(when.timestamp() * 1e7)}_{uuid.uuid4()}", copy.deepcopy(target), change_type,
                diff if change_type == "Update" else {}, when, by, by_type, client, operation.lower(),
                correlation, utcnow()))

    def log(self, target: ArmResource | ResourceGroup, operation: str, *, by: str, at: datetime | None = None,
            correlation_id: str | None = None, method: str = "PUT", status: str = "Succeeded",
            status_code: str = "OK", properties: dict[str, str] | None = None, begin: bool = True) -> None:
        """An activity log request as Azure records it: `Started` (BeginRequest), then the outcome (EndRequest)
        at `at`, the moment the write took effect."""
        when = at or utcnow()
        correlation = correlation_id or str(uuid.uuid4())
        rid = target.id
        group = target.name if isinstance(target, ResourceGroup) else target.resource_group
        for offset, event_status, name, sub_status in ((-0.8, "Started", "BeginRequest", ""),
                                                        (0.0, status, "EndRequest", status_code)):
            if name == "BeginRequest" and not begin:  # the request was logged when it began
                continue
            self.events.append(ActivityEvent(
                str(uuid.uuid4()), rid, group, target.subscription, operation, event_status, sub_status, name, by,
                when + timedelta(seconds=offset), correlation, method, utcnow(), dict(properties or {})))


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
