"""The emulator answers as Azure does: shapes against the official REST examples, ARM's errors and
long-running-operation headers, and the real azure-mgmt-web client reading it through the app's adapter."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from shared.appservice import PRODUCTION, SiteRef
from shared.config import Settings
from shared.errors import AzurePermissionDenied, AzureUnavailable, TargetNotFound
from shared.services import Services

REFERENCE = Path(__file__).resolve().parents[1] / "emulator" / "reference"
# Properties the spec defines but the 2025-05-01 examples happen to leave out.
SPEC_EXTRAS = {"slotSwapStatus", "healthCheckPath"}
APP = "augeo-production-api"


def _type(value):
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def _assert_conforms(ours: dict, official: dict, where: str = "") -> None:
    for key, value in ours.items():
        if key in SPEC_EXTRAS:
            continue
        assert key in official, f"{where}{key}: not in the official example"
        if official[key] is None or value is None:
            continue
        assert _type(value) == _type(official[key]), f"{where}{key}: {_type(value)} vs {_type(official[key])}"
        if isinstance(value, dict) and key != "properties" or key == "properties":
            _assert_conforms(value, official[key], f"{where}{key}.")


def _official(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())["responses"]["200"]["body"]


@pytest.fixture
def site(emulator):
    return emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})


@pytest.fixture
def arm(emulator):
    with httpx.Client(base_url=emulator.arm_url, verify=ssl.create_default_context(cafile=emulator.ca_path),
                      headers={"Authorization": "Bearer emulator-token"}) as client:
        yield client


@pytest.mark.parametrize(("path", "example"), [
    ("", "WebApps_Get.json"), ("/slots/staging", "WebApps_GetSlot.json"),
    ("/config/web", "WebApps_GetConfiguration.json"),
])
def test_emulator_bodies_have_the_official_examples_shape(site, arm, path, example):
    response = arm.get(f"{site.id}{path}", params={"api-version": "2025-05-01"})
    assert response.status_code == 200
    _assert_conforms(response.json(), _official(example))


def test_slot_list_is_a_pager_of_official_shaped_slots(site, arm):
    body = arm.get(f"{site.id}/slots", params={"api-version": "2025-05-01"}).json()
    assert set(body) == {"value", "nextLink"} and body["nextLink"] is None
    _assert_conforms(body["value"][0], _official("WebApps_ListSlots.json")["value"][0])


@pytest.mark.parametrize(("headers", "params", "status", "code"), [
    ({}, {"api-version": "2025-05-01"}, 401, "AuthenticationFailed"),
    ({"Authorization": "Bearer stolen"}, {"api-version": "2025-05-01"}, 401, "InvalidAuthenticationToken"),
    ({"Authorization": "Bearer emulator-token"}, {}, 400, "MissingApiVersionParameter"),
    ({"Authorization": "Bearer emulator-token"}, {"api-version": "1999-01-01"}, 400, "InvalidApiVersionParameter"),
])
def test_arm_front_door_errors(emulator, site, headers, params, status, code):
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_path)) as client:
        response = client.get(f"{emulator.arm_url}{site.id}", params=params, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_unknown_site_is_resource_not_found_in_arms_words(emulator, arm, site):
    response = arm.get(site.id.replace(APP, "nope"), params={"api-version": "2025-05-01"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert "Microsoft.Web/sites/nope" in response.json()["error"]["message"]


def test_swap_answers_202_with_the_async_operation_protocol(emulator, arm, site):
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production", "preserveVnet": True})
    assert response.status_code == 202 and response.content == b""
    operation = response.headers["Azure-AsyncOperation"]
    assert operation.startswith(emulator.arm_url) and "/operations/" in operation
    assert response.headers["Location"].startswith(emulator.arm_url) and "Retry-After" in response.headers
    status = arm.get(operation).json()
    assert status["status"] in ("InProgress", "Succeeded") and status["name"] and status["startTime"]
    conflict = arm.post(f"{site.id}/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "staging", "preserveVnet": True})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "Conflict"


def test_swap_body_missing_a_required_field_is_a_400(arm, site):
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production"})
    assert response.status_code == 400 and "preserveVnet" in response.json()["error"]["message"]


def test_slot_health_follows_the_release_it_runs(emulator, site):
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_path)) as client:
        production = client.get(f"https://127.0.0.1:{site.slots['production'].health_port}/health")
        staging = client.get(f"https://127.0.0.1:{site.slots['staging'].health_port}/health")
    assert production.status_code == 503 and production.json()["version"] == "v1.2.3"
    assert staging.status_code == 200 and staging.json()["version"] == "v1.2.2"


@pytest.fixture
async def app_service(emulator, app_env):
    services = Services(Settings.from_env(app_env))
    yield services
    await services.aclose()


async def test_adapter_reads_releases_and_swap_history_through_the_real_sdk(site, app_service):
    ref = SiteRef.parse(site.id)
    adapter = app_service.app_service(ref.subscription)
    production = await adapter.slot_info(ref, PRODUCTION)
    staging = await adapter.slot_info(ref, "staging")
    assert production.release == "DOCKER|augeo.azurecr.io/augeo-backend:v1.2.3"
    assert staging.release.endswith(":v1.2.2")
    assert production.last_swap_from == "staging" and production.last_swap_at is not None
    await adapter.restart(ref)
    assert site.slots["production"].restarts == 1


async def test_adapter_translates_sdk_errors(emulator, site, app_service):
    ref = SiteRef.parse(site.id)
    adapter = app_service.app_service(ref.subscription)
    with pytest.raises(TargetNotFound, match="ResourceNotFound"):
        await adapter.slot_info(SiteRef(ref.subscription, ref.resource_group, "missing-app"))
    emulator.expected_token = "another-token"
    with pytest.raises(AzurePermissionDenied, match="InvalidAuthenticationToken"):
        await adapter.slot_info(ref)
    emulator.expected_token = "emulator-token"
    emulator.fault(r"GET .*/sites/augeo-production-api$", status=503, times=10)
    with pytest.raises(AzureUnavailable, match="HTTP 503, after the SDK's retries"):
        await adapter.slot_info(ref)


def test_site_ids_are_parsed_or_refused():
    ref = SiteRef.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging")
    assert (ref.subscription, ref.resource_group, ref.name) == ("s", "rg", "app")
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not an App Service resource id"):
        SiteRef.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/db")
