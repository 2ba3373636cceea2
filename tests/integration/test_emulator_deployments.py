"""The emulated resource-group deployments answer as ARM does, read by the real azure-mgmt-resource-deployments
client: the history (list with a filter, pages, timestamps), get (secure parameters by type only), export, what-if
(202 + Location, the changes computed from what the earlier deployments left), create (201 + Location +
Retry-After, 200 for an update, resumable, Succeeded or Failed with ARM's error), and ARM's refusals."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError

from local.emulator import RESOURCE_GROUP, SUBSCRIPTION
from local.emulator.infra import APP, VAULT_SECRET, add_stack_history, stack_parameters, stack_template
from tests.support.arm_clients import assert_conforms, deployments_client, https, official

D = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/providers/Microsoft.Resources/deployments"
V = {"api-version": "2026-06-01"}
SECRET = "Pg-admin-0nly-in-the-vault"
# Spec-defined properties the official examples leave out.
EXTRAS = {"outputs", "onErrorDeployment", "error", "outputResources", "tags"}


@pytest.fixture
def history(emulator):
    return add_stack_history(emulator)


def _redeploy_body(emulator, release: str = "v1.2.2", mode: str = "Incremental", **settings) -> dict:
    return {"properties": {"mode": mode, "template": stack_template(),
                           "parameters": stack_parameters(release, vault_id=emulator.vault_resource_id(), **settings)}}


async def test_the_history_lists_with_a_filter_in_pages_and_not_in_time_order(emulator, history):
    emulator.deployments.scenario.page_size = 2
    async with deployments_client(emulator) as client:
        succeeded = [d async for d in client.deployments.list_by_resource_group(
            RESOURCE_GROUP, filter="provisioningState eq 'Succeeded'")]
        everything = [d async for d in client.deployments.list_by_resource_group(RESOURCE_GROUP)]
        top = [d async for d in client.deployments.list_by_resource_group(RESOURCE_GROUP, top=1)]
    assert [d.name for d in succeeded] == ["baseline", "hotfix-db-sku", "release-v1.2.2"]  # by name: 2 pages
    assert {d.properties.provisioning_state for d in succeeded} == {"Succeeded"}
    newest = max(succeeded, key=lambda d: d.properties.timestamp)
    assert newest.name == history["bad"]  # "the last successful one" is told by timestamp, not by position
    failed = next(d for d in everything if d.name == history["failed"])
    assert failed.properties.provisioning_state == "Failed" and failed.properties.error.code == "DeploymentFailed"
    assert failed.properties.error.details[0].code == "Conflict"
    assert [d.name for d in top] == ["baseline"]
    assert len(emulator.requests("GET", r"/deployments$")) >= 4  # the pager followed nextLink


async def test_get_shows_secure_parameters_by_type_only_and_export_gives_the_template(emulator, history):
    async with deployments_client(emulator) as client:
        deployment = await client.deployments.get(RESOURCE_GROUP, history["last_good"])
        exported = await client.deployments.export_template(RESOURCE_GROUP, history["last_good"])
    parameters = deployment.properties.parameters
    assert parameters["postgresAdminPassword"] == {"type": "SecureString"}
    assert parameters["release"] == {"type": "String", "value": "v1.2.2"}
    assert parameters["workers"] == {"type": "Int", "value": 2}
    assert deployment.properties.mode == "Incremental" and deployment.properties.template_hash.isdigit()
    assert f"{APP}-pg" in " ".join(r.id for r in deployment.properties.output_resources)
    assert exported.template == stack_template()
    with https(emulator) as arm:
        raw = arm.get(f"{D}/{history['last_good']}", params=V)
    assert SECRET not in raw.text
    assert_conforms(raw.json(), official("Deployments_CreateOrUpdate.json"), EXTRAS, open_objects={"parameters"})


def test_what_if_answers_202_then_200_on_its_location_in_the_official_shape(emulator, history):
    emulator.deployments.scenario.whatif_seconds = None  # runs until the test lets it finish
    with https(emulator) as arm:
        started = arm.post(f"{D}/rollback-what-if/whatIf", params=V, json=_redeploy_body(emulator))
        assert started.status_code == 202 and started.content == b""
        location = started.headers["Location"]
        assert location.startswith(f"{emulator.arm_url}/subscriptions/{SUBSCRIPTION}/operationresults/")
        assert started.headers["Retry-After"] == "0"
        running = arm.get(location)
        assert running.status_code == 202 and running.headers["Location"]
        emulator.deployments.finish_what_ifs()
        done = arm.get(location)
    assert done.status_code == 200
    result = done.json()
    assert result["status"] == "Succeeded"
    assert_conforms(result, official("Deployments_WhatIf.json"), open_objects={"before", "after"},
                    extras={"delta"})
    assert SECRET not in done.text


async def test_what_if_compares_the_template_with_the_resources_as_the_history_left_them(emulator, history):
    async with deployments_client(emulator) as client:
        exported = await client.deployments.export_template(RESOURCE_GROUP, history["last_good"])
        recorded = (await client.deployments.get(RESOURCE_GROUP, history["last_good"])).properties.parameters
        parameters = {name: {"value": p["value"]} for name, p in recorded.items() if "value" in p}
        parameters["postgresAdminPassword"] = {"reference": {"keyVault": {"id": emulator.vault_resource_id()},
                                                             "secretName": VAULT_SECRET}}
        poller = await client.deployments.begin_what_if(RESOURCE_GROUP, "rollback-what-if", {"properties": {
            "mode": "Incremental", "template": exported.template, "parameters": parameters}})
        result = await poller.result()
    changes = {c.resource_id.rsplit("/", 1)[1]: c for c in result.properties.changes}
    assert changes[f"{APP}-pg"].change_type == "Modify"
    assert [(d.path, d.property_change_type, d.before, d.after) for d in changes[f"{APP}-pg"].delta] == [
        ("sku.name", "Modify", "Standard_B1ms", "Standard_D4ds_v5")]
    assert [(d.path, d.before, d.after) for d in changes["appsettings"].delta] == [
        ("properties.FEATURE_FLAGS", "checkout-v2=on", "checkout-v2=off")]
    assert changes["web"].delta[0].after == "DOCKER|augeo.azurecr.io/augeo-backend:v1.2.2"
    assert {changes[n].change_type for n in (APP, f"{APP}-plan", f"{APP}-redis")} == {"NoChange"}
    assert SECRET not in json.dumps(result.as_dict())
    assert emulator.deployments.complete_mode_requests == []


async def test_complete_mode_what_if_deletes_what_the_template_leaves_out_and_is_recorded(emulator, history):
    group = emulator.resources.group(SUBSCRIPTION, RESOURCE_GROUP)
    emulator.resources.put(group, "Microsoft.Storage/storageAccounts", "augeoreports", location="eastus",
                           sku={"name": "Standard_LRS"}, properties={"minimumTlsVersion": "TLS1_2"})
    async with deployments_client(emulator) as client:
        incremental = await (await client.deployments.begin_what_if(
            RESOURCE_GROUP, "check", _redeploy_body(emulator))).result()
        complete = await (await client.deployments.begin_what_if(
            RESOURCE_GROUP, "check", _redeploy_body(emulator, mode="Complete"))).result()
    kind = {c.resource_id.rsplit("/", 1)[1]: c.change_type for c in incremental.properties.changes}
    assert kind["augeoreports"] == "Ignore"
    assert {c.resource_id.rsplit("/", 1)[1]: c.change_type for c in complete.properties.changes}["augeoreports"] \
        == "Delete"
    assert emulator.deployments.complete_mode_requests == ["whatIf check"]


async def test_what_if_reports_what_it_cannot_predict_and_ids_only_when_asked(emulator, history):
    emulator.deployments.scenario.whatif_overrides["microsoft.cache/redis"] = (
        "Unsupported", "The resource type is not supported by what-if.")
    body = _redeploy_body(emulator)
    body["properties"]["whatIfSettings"] = {"resultFormat": "ResourceIdOnly"}
    async with deployments_client(emulator) as client:
        full = await (await client.deployments.begin_what_if(RESOURCE_GROUP, "check", _redeploy_body(emulator))
                      ).result()
        ids_only = await (await client.deployments.begin_what_if(RESOURCE_GROUP, "check", body)).result()
    redis = next(c for c in full.properties.changes if c.resource_id.endswith(f"/{APP}-redis"))
    assert (redis.change_type, redis.unsupported_reason) == ("Unsupported",
                                                              "The resource type is not supported by what-if.")
    assert all(c.before is None and c.after is None and c.delta is None for c in ids_only.properties.changes)
    assert {c.change_type for c in ids_only.properties.changes} == {"Modify", "NoChange", "Unsupported"}


def test_create_answers_201_with_location_and_retry_after_and_409_while_it_runs(emulator, history):
    emulator.deployments.scenario.deploy_seconds = None
    with https(emulator) as arm:
        created = arm.put(f"{D}/rollback-001", params=V, json=_redeploy_body(emulator))
        assert created.status_code == 201
        assert "Azure-AsyncOperation" not in created.headers  # only what the spec declares
        location = created.headers["Location"]
        assert location.startswith(emulator.arm_url) and created.headers["Retry-After"] == "0"
        body = created.json()
        assert body["properties"]["provisioningState"] == "Accepted"
        assert_conforms(body, official("Deployments_CreateOrUpdate.json", "201"), EXTRAS,
                        open_objects={"parameters"})
        again = arm.put(f"{D}/rollback-001", params=V, json=_redeploy_body(emulator))
        other = arm.put(f"{D}/rollback-002", params=V, json=_redeploy_body(emulator))
        assert arm.get(location).status_code == 202
        assert arm.get(f"{D}/rollback-001", params=V).json()["properties"]["provisioningState"] == "Accepted"
        emulator.deployments.finish(RESOURCE_GROUP, "rollback-001", SUBSCRIPTION)
        done = arm.get(location)
    assert again.status_code == 409 and again.json()["error"]["code"] == "DeploymentActive"
    assert "rollback-001" in again.json()["error"]["message"]
    assert other.status_code == 409 and "rollback-001" in other.json()["error"]["message"]
    assert done.status_code == 200 and done.json()["properties"]["provisioningState"] == "Succeeded"


def test_an_update_of_an_existing_name_answers_200_with_no_polling_header(emulator, history):
    with https(emulator) as arm:
        updated = arm.put(f"{D}/{history['last_good']}", params=V, json=_redeploy_body(emulator))
    assert updated.status_code == 200
    assert "Location" not in updated.headers and "Azure-AsyncOperation" not in updated.headers
    assert updated.json()["properties"]["provisioningState"] == "Accepted"


async def test_a_create_resumed_from_its_continuation_token_applies_the_template(emulator, history):
    emulator.deployments.scenario.deploy_seconds = None
    async with deployments_client(emulator) as client:
        poller = await client.deployments.begin_create_or_update(RESOURCE_GROUP, "rollback-001",
                                                                 _redeploy_body(emulator))
        token = poller.continuation_token()
    emulator.deployments.finish(RESOURCE_GROUP, "rollback-001", SUBSCRIPTION)
    async with deployments_client(emulator) as client:  # another process, after a crash, say
        resumed = await client.deployments.begin_create_or_update(RESOURCE_GROUP, "rollback-001", None,
                                                                  continuation_token=token)
        deployment = await resumed.result()
        after = await (await client.deployments.begin_what_if(RESOURCE_GROUP, "verify",
                                                              _redeploy_body(emulator))).result()
    assert deployment.properties.provisioning_state == "Succeeded"
    assert len(emulator.requests("PUT", r"/deployments/rollback-001$")) == 1  # resuming did not deploy again
    pg = emulator.resources.get(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                                f"Microsoft.DBforPostgreSQL/flexibleServers/{APP}-pg")
    assert pg.sku["name"] == "Standard_D4ds_v5" and "administratorLoginPassword" not in pg.properties
    assert {c.change_type for c in after.properties.changes} == {"NoChange"}


async def test_a_failed_deployment_ends_failed_with_arms_error_in_the_location_form(emulator, history):
    emulator.deployments.fail_next("Conflict", "The server is busy with another operation.", resource=f"{APP}-pg")
    async with deployments_client(emulator) as client:
        poller = await client.deployments.begin_create_or_update(RESOURCE_GROUP, "rollback-001",
                                                                 _redeploy_body(emulator))
        deployment = await poller.result()  # a 2xx Location answer: no exception, the state says it
    assert deployment.properties.provisioning_state == "Failed"
    error = deployment.properties.error
    assert error.code == "DeploymentFailed" and "At least one resource deployment operation failed" in error.message
    assert (error.details[0].code, error.details[0].message) == ("Conflict",
                                                                  "The server is busy with another operation.")
    assert error.details[0].target.endswith(f"/flexibleServers/{APP}-pg")


async def test_a_failed_deployment_raises_in_the_async_operation_form(emulator, history):
    emulator.deployments.scenario.create_lro = "async-operation"
    emulator.deployments.fail_next("Conflict", "The server is busy with another operation.")
    async with deployments_client(emulator) as client:
        poller = await client.deployments.begin_create_or_update(RESOURCE_GROUP, "rollback-001",
                                                                 _redeploy_body(emulator))
        with pytest.raises(HttpResponseError, match="DeploymentFailed"):
            await poller.result()
    assert emulator.requests("GET", r"/deployments/rollback-001/operationStatuses/")


def test_on_error_deployment_is_stored_as_sent_and_names_the_last_successful(emulator, history):
    body = _redeploy_body(emulator)
    body["properties"]["onErrorDeployment"] = {"type": "LastSuccessful"}
    with https(emulator) as arm:
        created = arm.put(f"{D}/with-fallback", params=V, json=body)
    assert created.status_code == 201
    assert created.json()["properties"]["onErrorDeployment"] == {"type": "LastSuccessful",
                                                                 "deploymentName": history["bad"]}
    assert_conforms(created.json(), official("Deployments_CreateOrUpdate_OnErrorLastSuccessful.json", "201"),
                    (EXTRAS - {"onErrorDeployment"}) | {"templateHash"}, open_objects={"parameters"})


@pytest.mark.parametrize(("mutate", "status", "code"), [
    (lambda b: b["properties"].pop("mode"), 400, "InvalidRequestContent"),
    (lambda b: b["properties"].update(templateLink={"uri": "https://example.com/t.json"}), 400, "InvalidTemplate"),
    (lambda b: b["properties"]["parameters"].update(unknown={"value": 1}), 400, "InvalidTemplate"),
    (lambda b: b["properties"]["parameters"].pop("appName"), 400, "InvalidTemplate"),
    (lambda b: b["properties"]["parameters"].update(redisSku={"value": "Enterprise"}), 400, "InvalidTemplate"),
    (lambda b: b["properties"]["template"]["resources"][0].update(name="[reference('x').name]"), 400,
     "InvalidTemplate"),
    (lambda b: b["properties"]["parameters"]["postgresAdminPassword"]["reference"].update(secretName="gone"),
     400, "KeyVaultParameterReferenceSecretRetrieveFailed"),
])
def test_arm_refuses_what_it_would_refuse(emulator, history, mutate, status, code):
    body = _redeploy_body(emulator)
    mutate(body)
    with https(emulator) as arm:
        answer = arm.put(f"{D}/rollback-001", params=V, json=body)
        what_if = arm.post(f"{D}/rollback-001/whatIf", params=V, json=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert (what_if.status_code, what_if.json()["error"]["code"]) == (status, code)
    assert answer.json()["error"]["message"]
    assert not emulator.deployments.running()


@pytest.mark.parametrize(("method", "path", "params", "status", "code"), [
    ("GET", f"{D}/baseline", {"api-version": "1999-01-01"}, 400, "InvalidApiVersionParameter"),
    ("GET", f"{D}/baseline", {}, 400, "MissingApiVersionParameter"),
    ("GET", f"{D}/nope", V, 404, "DeploymentNotFound"),
    ("GET", D.replace(RESOURCE_GROUP, "other-rg"), V, 404, "ResourceGroupNotFound"),
    ("GET", D, {**V, "$filter": "timestamp gt '2026-01-01'"}, 400, "InvalidFilter"),
    ("GET", D, {**V, "$filter": "provisioningState eq 'Fine'"}, 400, "InvalidFilter"),
    ("GET", f"{D}/bad name!", V, 400, "InvalidDeploymentName"),
])
def test_arm_front_door_and_lookups(emulator, history, method, path, params, status, code):
    with https(emulator) as arm:
        answer = arm.request(method, path, params=params)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


def test_paths_route_case_insensitively_and_need_a_token(emulator, history):
    with https(emulator) as arm:
        upper = arm.get(D.replace("/resourcegroups/", "/resourceGroups/") + "/baseline", params=V)
    with https(emulator, token=None) as anonymous:
        refused = anonymous.get(f"{D}/baseline", params=V)
    assert upper.status_code == 200 and upper.json()["name"] == "baseline"
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "AuthenticationFailed"
