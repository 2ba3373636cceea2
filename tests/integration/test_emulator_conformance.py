"""The emulator answers as Azure does: shapes against the official REST examples, ARM's errors and
long-running-operation headers, and the real azure-mgmt-web client reading it through the app's adapter."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from shared.adapters.appservice import PRODUCTION, SiteRef
from shared.config import Settings
from shared.errors import AzurePermissionDenied, AzureUnavailable, TargetNotFound
from shared.services import Services

REFERENCE = Path(__file__).resolve().parents[2] / "local" / "emulator" / "reference"
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


def test_swap_answers_202_with_only_a_location_as_microsofts_own_pipeline_polls_it(emulator, arm, site):
    """The spec declares no headers on the swap's 202; Microsoft's pipeline task polls Location (202 running,
    200 done). The emulator sends that and nothing kinder: no Azure-AsyncOperation, no Retry-After."""
    emulator.web.scenario.swap_seconds = 0.5
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production", "preserveVnet": True})
    assert response.status_code == 202 and response.content == b""
    assert "Azure-AsyncOperation" not in response.headers and "Retry-After" not in response.headers
    location = response.headers["Location"]
    assert location.startswith(emulator.arm_url) and "/operationResults/" in location
    assert arm.get(location).status_code == 202
    conflict = arm.post(f"{site.id}/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "staging", "preserveVnet": True})
    assert conflict.status_code == 409
    body = conflict.json()  # App Service's own shape, not ARM's {"error": ...}
    assert "error" not in body and body["Code"] == "Conflict"
    assert body["Message"].startswith("Cannot modify this site because another operation is in progress")
    assert body["Details"][-1]["ErrorEntity"]["ExtendedCode"] == "59203"
    emulator.web.operations[next(iter(emulator.web.operations))].due = 0
    import time

    deadline = time.monotonic() + 5
    while arm.get(location).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    done = arm.get(location)
    assert done.status_code == 200 and done.content == b""


def test_swap_in_the_async_operation_form_is_a_variant(emulator, arm, site):
    emulator.web.scenario.swap_lro = "async-operation"
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production", "preserveVnet": True})
    assert response.status_code == 202
    status = arm.get(response.headers["Azure-AsyncOperation"]).json()
    assert status["status"] in ("InProgress", "Succeeded") and status["name"] and status["startTime"]
    assert response.headers["Location"].startswith(emulator.arm_url)


@pytest.mark.parametrize("status", [400, 409, 500])
def test_a_failed_swap_is_an_http_error_on_the_location_url_in_app_services_words(emulator, arm, site, status):
    import time

    emulator.web.scenario.swap_seconds = 0.05
    emulator.web.scenario.swap_failure = {"status": status, "code": "SwapFailed", "message": "Warm-up failed."}
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production", "preserveVnet": True})
    location = response.headers["Location"]
    deadline = time.monotonic() + 5
    while (answer := arm.get(location)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answer.status_code == status
    assert answer.json()["Code"] == "SwapFailed" and answer.json()["Message"] == "Warm-up failed."
    assert emulator.release(APP) == "v1.2.3"


def test_writes_answer_409_while_another_operation_holds_the_site(emulator, arm, site):
    emulator.web.hold(APP, seconds=30, operation="Update")
    for method, path in (("POST", "/slots/staging/slotsswap"), ("POST", "/restart"), ("PATCH", "/config/web")):
        answer = arm.request(method, f"{site.id}{path}", params={"api-version": "2025-05-01"},
                             json={"targetSlot": "production", "preserveVnet": True, "properties": {}})
        assert answer.status_code == 409, (method, path)
        assert "OperationName: Update" in answer.json()["Message"]
    assert arm.get(f"{site.id}/config/web", params={"api-version": "2025-05-01"}).status_code == 200


def test_swap_body_missing_a_required_field_is_a_400(arm, site):
    response = arm.post(f"{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                        json={"targetSlot": "production"})
    assert response.status_code == 400 and "preserveVnet" in response.json()["Message"]


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
    assert production.fx_version == "DOCKER|augeo.azurecr.io/augeo-backend:v1.2.3"
    assert production.release().image == "augeo.azurecr.io/augeo-backend:v1.2.3"
    assert staging.release().image.endswith(":v1.2.2")
    assert production.deployment is not None and production.deployment.id != staging.deployment.id
    assert production.last_swap_from == "staging" and production.last_swap_at is not None
    await adapter.restart(ref)
    assert site.slots["production"].restarts == 1


async def test_adapter_reads_what_code_and_sidecar_apps_run(emulator, app_service):
    code = emulator.add_app("code-app", production="v2", staging="v1", kind="code")
    sidecar = emulator.add_app("sidecar-app", production="v2", staging="v1", kind="sidecar")
    code_ref, sidecar_ref = SiteRef.parse(code.id), SiteRef.parse(sidecar.id)
    adapter = app_service.app_service(code_ref.subscription)
    code_production = await adapter.slot_info(code_ref, PRODUCTION)
    assert code_production.fx_version == "PYTHON|3.11" and code_production.release().image is None
    assert code_production.release().deployment == code.slots["production"].deployments[-1]["id"]
    sidecar_staging = await adapter.slot_info(sidecar_ref, "staging")
    assert sidecar_staging.fx_version == "SITECONTAINERS"
    assert sidecar_staging.release().image == "augeo.azurecr.io/augeo-backend:v1"  # the main container, not the sidecar


async def test_adapter_reads_app_services_own_error_shape(emulator, site, app_service):
    from shared.errors import AzureConflict

    ref = SiteRef.parse(site.id)
    emulator.web.hold(APP, seconds=30)
    with pytest.raises(AzureConflict, match="Conflict: Cannot modify this site because another operation is in "
                                            "progress"):
        await app_service.app_service(ref.subscription).restart(ref)


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
    ref = SiteRef.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app")
    assert (ref.subscription, ref.resource_group, ref.name) == ("s", "rg", "app")
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not an App Service resource id"):
        SiteRef.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/db")
    with pytest.raises(ConfigurationError, match="names slot 'staging' of app 'app'"):  # never silently cut
        SiteRef.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app/slots/staging")
