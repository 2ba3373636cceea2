"""What-if for the emulated deployments: the changes a template would make to a resource group as it is now,
in the shape ARM's what-if reports (`changeType`, `before`, `after`, `delta` of leaf paths, arrays element by
element), with every value that came from a secure parameter left out."""

from __future__ import annotations

import copy
import json
from typing import Any

from local.emulator.arm_resources import ArmResource, ResourceGroup, ResourceWorld, flatten
from local.emulator.templates import DesiredResource, Evaluated


def what_if_changes(world: ResourceWorld, group: ResourceGroup, evaluated: Evaluated, mode: str,
                    overrides: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """What-if's `changes`: each template resource against the resource as it is now, then the group's other
    resources (Ignore, or Delete in Complete mode with their child resources)."""
    secrets = secret_values(evaluated)
    changes: list[dict[str, Any]] = []
    for resource in evaluated.resources:
        current = world.get(resource.id)
        after = without(_predicted(resource, current), secrets)
        change: dict[str, Any] = {"resourceId": current.id if current else resource.id}
        override = overrides.get(resource.type.lower())
        if override is not None:
            change["changeType"] = override[0]
            if override[0] == "Unsupported":
                change["unsupportedReason"] = override[1]
            if current is not None:
                change["before"] = current.body()
        elif current is None:
            change.update(changeType="Create", after=after)
        else:
            delta = property_delta(current.state(), {k: v for k, v in after.items()
                                                     if k not in ("id", "name", "type", "apiVersion")})
            change.update(changeType="Modify" if delta else "NoChange", before=current.body(), after=after)
            if delta:
                change["delta"] = delta
        changes.append(change)
    deleting = {r.id.lower() for r in not_in_template(world, group, evaluated)} if mode == "Complete" else set()
    declared = {r.id.lower() for r in evaluated.resources}
    for existing in world.in_group(group):
        key = existing.id.lower()
        if key in declared:
            continue
        doomed = key in deleting or any(key.startswith(d + "/") for d in deleting)
        changes.append({"resourceId": existing.id, "changeType": "Delete" if doomed else "Ignore",
                        "before": existing.body()})
    return changes


def not_in_template(world: ResourceWorld, group: ResourceGroup, evaluated: Evaluated) -> list[ArmResource]:
    """Top-level resources of the group the template does not declare (Complete mode deletes them; their
    child resources go with them)."""
    declared = {r.id.lower() for r in evaluated.resources}
    return [r for r in world.in_group(group) if r.id.lower() not in declared and r.type.count("/") == 1]


def property_delta(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What-if's `delta`: leaf paths (`properties.siteConfig.alwaysOn`, `sku.name`) that change, arrays compared
    element by element as `Array` with indexed children, as ARM's what-if reports them."""
    missing = object()
    old, new = flatten(before), flatten(after)
    delta: list[dict[str, Any]] = []
    for path in sorted(set(old) | set(new)):
        b, a = old.get(path, missing), new.get(path, missing)
        if b == a:
            continue
        if b is missing:
            delta.append({"path": path, "propertyChangeType": "Create", "after": a})
        elif a is missing:
            delta.append({"path": path, "propertyChangeType": "Delete", "before": b})
        elif isinstance(a, list) and isinstance(b, list):
            children = []
            for index in range(max(len(a), len(b))):
                if index >= len(b):
                    children.append({"path": str(index), "propertyChangeType": "Create", "after": a[index]})
                elif index >= len(a):
                    children.append({"path": str(index), "propertyChangeType": "Delete", "before": b[index]})
                elif a[index] != b[index]:
                    children.append({"path": str(index), "propertyChangeType": "Modify", "before": b[index],
                                     "after": a[index]})
            delta.append({"path": path, "propertyChangeType": "Array", "children": children})
        else:
            delta.append({"path": path, "propertyChangeType": "Modify", "before": b, "after": a})
    return delta


def _predicted(resource: DesiredResource, current: ArmResource | None) -> dict[str, Any]:
    body = resource.body()
    if current is not None:  # ARM keeps the id and name as the resource was created
        body.update(id=current.id, name=current.name, type=current.type)
    return body


def secret_values(evaluated: Evaluated) -> set[str]:
    shown = evaluated.parameters
    return {json.dumps(value, sort_keys=True) for name, value in evaluated.values.items()
            if "value" not in shown.get(name, {}) and value not in (None, "")}


def without(value: Any, secrets: set[str]) -> Any:
    """`value` with every part that came from a secure parameter left out (write-only: never read back)."""
    if not secrets:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return {k: without(v, secrets) for k, v in value.items() if json.dumps(v, sort_keys=True) not in secrets}
    if isinstance(value, list):
        return [without(v, secrets) for v in value if json.dumps(v, sort_keys=True) not in secrets]
    return value
