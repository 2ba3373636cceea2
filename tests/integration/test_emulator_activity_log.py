"""The emulated activity log answers as Azure's does, read by the real azure-mgmt-monitor client
(`activity_logs.list`): a config change of an App Service appears here (not in Resource Graph) with its operation,
caller, time and correlation id, a request as its Started and Succeeded events, the filter's few documented
patterns and nothing else, pages with nextLink, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from local.emulator import RESOURCE_GROUP, SUBSCRIPTION
from local.emulator.arm_resources import utcnow
from local.emulator.infra import APP, add_stack_history
from tests.support.arm_clients import assert_conforms, https, monitor_client, official

G = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers"
SETTINGS = f"{G}/Microsoft.Web/sites/{APP}/config/appsettings"
PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Insights/eventtypes/management/values"
# EventData properties the spec defines and the official example leaves out.
EXTRAS = {"category", "resourceType", "tenantId", "resourceId"}


def _window(minutes: float, clause: str = "") -> str:
    now = utcnow()
    start = (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"eventTimestamp ge '{start}' and eventTimestamp le '{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'{clause}"


@pytest.fixture
def history(emulator):
    names = add_stack_history(emulator)
    emulator.resources.patch(SETTINGS, properties={"FEATURE_FLAGS": "checkout-v2=off"}, by="bob@augeo.example",
                             at=utcnow() - timedelta(minutes=12))
    return names


async def _events(emulator, filter: str, select: str | None = None) -> list:
    async with monitor_client(emulator) as client:
        return [e async for e in client.activity_logs.list(filter=filter, select=select)]


async def test_an_app_service_settings_change_is_here_with_who_and_when(emulator, history):
    events = await _events(emulator, _window(15, f" and resourceGroupName eq '{RESOURCE_GROUP}'"))
    writes = [e for e in events if e.operation_name.value == "Microsoft.Web/sites/config/write"
              and e.resource_id == SETTINGS and e.caller == "bob@augeo.example"]
    assert [(e.status.value, e.event_name.value) for e in writes] == [("Succeeded", "EndRequest"),
                                                                      ("Started", "BeginRequest")]
    assert writes[0].correlation_id == writes[1].correlation_id
    assert utcnow() - timedelta(minutes=13) < writes[0].event_timestamp < utcnow() - timedelta(minutes=11)
    assert writes[0].resource_group_name == RESOURCE_GROUP
    # The failed release-v1.2.4 (10 minutes ago) wrote the settings too; hotfix-db-sku (25) is outside the window.
    assert {e.caller for e in events} == {"bob@augeo.example", "deploy-pipeline@augeo.example"}
    assert min(e.event_timestamp for e in events) > utcnow() - timedelta(minutes=15)


async def test_a_deployment_writes_its_resources_under_its_correlation_id(emulator, history):
    deployment = emulator.deployments.get(RESOURCE_GROUP, history["bad"], SUBSCRIPTION)
    events = await _events(emulator, _window(60, f" and correlationId eq '{deployment.correlation_id}'"))
    operations = {e.operation_name.value for e in events}
    assert {"Microsoft.Resources/deployments/write", "Microsoft.Web/sites/config/write",
            "Microsoft.DBforPostgreSQL/flexibleServers/write"} <= operations
    assert {e.caller for e in events} == {"deploy-pipeline@augeo.example"}
    by_resource = await _events(emulator, _window(60, f" and resourceUri eq '{SETTINGS}'"))
    assert {e.resource_id for e in by_resource} == {SETTINGS}
    by_provider = await _events(emulator, _window(60, " and resourceProvider eq 'Microsoft.Cache'"))
    assert by_provider and {e.resource_provider_name.value for e in by_provider} == {"Microsoft.Cache"}


async def test_pages_follow_next_link_newest_first(emulator, history):
    emulator.activity_log.page_size = 5
    events = await _events(emulator, _window(24 * 60, f" and resourceGroupName eq '{RESOURCE_GROUP}'"))
    times = [e.event_timestamp for e in events]
    assert len(events) > 10 and times == sorted(times, reverse=True)
    assert len(emulator.requests("GET", r"/eventtypes/management/values$")) >= 3


@pytest.mark.parametrize("filter", [
    None,
    f"resourceGroupName eq '{RESOURCE_GROUP}'",
    "eventTimestamp ge '2026-01-01T00:00:00Z'",
    _window(60, f" and resourceGroupName eq '{RESOURCE_GROUP}' and status eq 'Succeeded'"),
    _window(60, " or resourceGroupName eq 'x'"),
    _window(200 * 24 * 60),
])
def test_the_filter_allows_only_the_documented_patterns(emulator, history, filter):
    with https(emulator) as arm:
        answer = arm.get(PATH, params={"api-version": "2015-04-01", **({"$filter": filter} if filter else {})})
    assert answer.status_code == 400
    assert answer.json()["code"] == "BadRequest" and answer.json()["message"]  # the spec's flat error body


async def test_the_sdk_reports_a_refused_filter(emulator, history):
    with pytest.raises(HttpResponseError) as refused:
        await _events(emulator, "eventTimestamp ge '2026-01-01T00:00:00Z'")
    assert refused.value.status_code == 400 and "BadRequest" in str(refused.value)


def test_events_have_the_official_shape_and_select_narrows_them(emulator, history):
    with https(emulator) as arm:
        full = arm.get(PATH, params={"api-version": "2015-04-01", "$filter": _window(15)})
        selected = arm.get(PATH, params={"api-version": "2015-04-01", "$filter": _window(15),
                                         "$select": "caller,eventTimestamp,operationName"})
        wrong = arm.get(PATH, params={"api-version": "2016-01-01", "$filter": _window(15)})
        unknown = arm.get(PATH, params={"api-version": "2015-04-01", "$filter": _window(15), "$select": "secret"})
    assert full.status_code == 200
    example = official("ActivityLogs_List.json")
    assert_conforms(full.json(), example, EXTRAS, open_objects={"claims", "properties"})
    assert {tuple(sorted(e)) for e in selected.json()["value"]} == {("caller", "eventTimestamp", "operationName")}
    assert (wrong.status_code, unknown.status_code) == (400, 400)
