"""The real Azure SDK clients of the coming infrastructure responder (deployments, Resource Graph, activity log),
async as the app uses them, pointed at the emulator; plain HTTPS for checking wire shapes; the example-shape
check shared by the emulator's conformance tests."""

from __future__ import annotations

import json
import ssl
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import httpx

from local.emulator import SUBSCRIPTION, Emulator
from shared.adapters.azure import EmulatorCredential

REFERENCE = Path(__file__).resolve().parents[2] / "local" / "emulator" / "reference"


def official(name: str, status: str = "200") -> Any:
    return json.loads((REFERENCE / name).read_text())["responses"][status]["body"]


def _type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def assert_conforms(ours: Any, theirs: Any, extras: set[str] = frozenset(), where: str = "",
                    open_objects: set[str] = frozenset()) -> None:
    """Every field the emulator sends exists in the official example with the same JSON type (recursively);
    `extras` are spec-defined fields the example leaves out, `open_objects` are free-form objects (parameters,
    template, properties of a resource) whose keys are the user's."""
    for key, value in ours.items():
        if key in extras:
            continue
        assert key in theirs, f"{where}{key}: not in the official example"
        if theirs[key] is None or value is None:
            continue
        assert _type(value) == _type(theirs[key]), f"{where}{key}: {_type(value)} vs {_type(theirs[key])}"
        if key in open_objects:
            continue
        if isinstance(value, dict):
            assert_conforms(value, theirs[key], extras, f"{where}{key}.", open_objects)
        elif isinstance(value, list) and value and theirs[key] and isinstance(value[0], dict):
            for item in value:
                assert_conforms(item, theirs[key][0], extras, f"{where}{key}[].", open_objects)


def https(emulator: Emulator, token: str | None = "emulator-token") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emulator.arm_url, verify=ssl.create_default_context(cafile=emulator.ca_path),
                        headers=headers, timeout=10)


def _options(emulator: Emulator) -> dict[str, Any]:
    # No SDK retries: the emulator's refusals (429 included) reach the test as Azure sends them.
    return {"base_url": emulator.arm_url, "connection_verify": emulator.ca_path, "retry_total": 0}


@asynccontextmanager
async def deployments_client(emulator: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.resource.deployments.aio import DeploymentsMgmtClient

    async with DeploymentsMgmtClient(EmulatorCredential(), SUBSCRIPTION, polling_interval=0.02,
                                     **_options(emulator)) as client:
        yield client


@asynccontextmanager
async def resource_graph_client(emulator: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.resourcegraph.aio import ResourceGraphClient

    async with ResourceGraphClient(EmulatorCredential(), **_options(emulator)) as client:
        yield client


@asynccontextmanager
async def monitor_client(emulator: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.monitor.aio import MonitorManagementClient

    async with MonitorManagementClient(EmulatorCredential(), SUBSCRIPTION, **_options(emulator)) as client:
        yield client
