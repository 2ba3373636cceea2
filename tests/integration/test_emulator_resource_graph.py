"""The emulated Resource Graph answers `resourcechanges` queries as Azure does, read by the real
azure-mgmt-resourcegraph client: who changed what and when from the scenario's writes (App Service settings not
among them), the query's filters on target and time, order, take, paging with $skipToken, its throttling, and
Resource Graph's 400 InvalidQuery for what it does not answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from local.emulator import RESOURCE_GROUP, SUBSCRIPTION
from local.emulator.arm_resources import utcnow
from local.emulator.infra import APP, add_stack_history
from tests.support.arm_clients import assert_conforms, https, official, resource_graph_client

G = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers"
PG = f"{G}/Microsoft.DBforPostgreSQL/flexibleServers/{APP}-pg"
SETTINGS = f"{G}/Microsoft.Web/sites/{APP}/config/appsettings"
RECENT = ("resourcechanges | where resourceGroup =~ '{rg}' "
          "| extend changeTime = todatetime(properties.changeAttributes.timestamp) "
          "| where changeTime > ago({window}) | order by changeTime desc "
          "| project changeTime, targetResourceId = tostring(properties.targetResourceId), "
          "changeType = tostring(properties.changeType), changedBy = tostring(properties.changeAttributes.changedBy), "
          "changes = properties.changes, id")


@pytest.fixture
def history(emulator):
    names = add_stack_history(emulator)
    # After the bad deployment, two people changed things by hand: alice the database sku in the portal,
    # bob an app setting (which Resource Graph does not see).
    emulator.resources.patch(PG, sku={"name": "Standard_D2ds_v5"}, by="alice@augeo.example",
                             at=utcnow() - timedelta(minutes=15))
    emulator.resources.patch(SETTINGS, properties={"FEATURE_FLAGS": "checkout-v2=off"}, by="bob@augeo.example",
                             at=utcnow() - timedelta(minutes=12))
    return names


async def _query(emulator, query: str, **options):
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    async with resource_graph_client(emulator) as client:
        return await client.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=query,
                                                   options=QueryRequestOptions(**options) if options else None))


async def test_recent_changes_say_what_who_and_when_but_not_app_service_settings(emulator, history):
    answer = await _query(emulator, RECENT.format(rg=RESOURCE_GROUP, window="1h"))
    rows = answer.data
    assert [(r["changedBy"], r["changeType"]) for r in rows] == [
        ("alice@augeo.example", "Update"),          # 15 minutes ago, by hand
        ("deploy-pipeline@augeo.example", "Update"),  # hotfix-db-sku, 25 minutes ago: the sku shrink
    ]
    assert rows[0]["targetResourceId"] == PG
    assert rows[0]["changes"] == {"sku.name": {"previousValue": "Standard_B1ms", "newValue": "Standard_D2ds_v5"}}
    assert rows[0]["changeTime"] > rows[1]["changeTime"]
    assert not any("appsettings" in r["targetResourceId"] or "/config/" in r["targetResourceId"] for r in rows)
    assert (answer.total_records, answer.count, answer.result_truncated) == (2, 2, "false")
    assert answer.skip_token is None


async def test_full_rows_have_the_documented_change_shape(emulator, history):
    answer = await _query(emulator, f"resourcechanges | where properties.targetResourceId =~ '{PG.upper()}' "
                                    f"| order by todatetime(properties.changeAttributes.timestamp) asc")
    rows = answer.data
    # baseline created it, hotfix-db-sku shrank it, alice grew it; release-v1.2.4 failed on it, so no change
    assert [r["properties"]["changeType"] for r in rows] == ["Create", "Update", "Update"]
    row = rows[-1]
    assert row["type"] == "microsoft.resources/changes" and row["id"].startswith(PG + "/providers/Microsoft.Resources"
                                                                                       "/changes/")
    attributes = row["properties"]["changeAttributes"]
    assert {"timestamp", "changedBy", "changedByType", "clientType", "operation", "correlationId",
            "changesCount", "previousResourceSnapshotId", "newResourceSnapshotId"} <= set(attributes)
    assert (attributes["changedByType"], attributes["clientType"]) == ("User", "Azure Portal")
    assert attributes["operation"] == "microsoft.dbforpostgresql/flexibleservers/write"
    assert row["properties"]["targetResourceType"] == "microsoft.dbforpostgresql/flexibleservers"
    assert rows[0]["properties"]["changes"] == {}  # a Create lists no property changes (changesCount 0)


async def test_time_window_between_two_datetimes_and_target_filters(emulator, history):
    start, end = utcnow() - timedelta(minutes=30), utcnow() - timedelta(minutes=20)
    window = (f"resourcechanges | where properties.changeAttributes.timestamp between "
              f"(datetime({start.isoformat()}) .. datetime({end.isoformat()})) "
              f"and properties.targetResourceId in~ ('{PG}', '{G}/Microsoft.Cache/redis/{APP}-redis')")
    answer = await _query(emulator, window)
    assert [r["properties"]["changeAttributes"]["changedBy"] for r in answer.data] == [
        "deploy-pipeline@augeo.example"]
    case_sensitive = await _query(emulator, f"resourcechanges | where resourceGroup == '{RESOURCE_GROUP.upper()}'")
    assert case_sensitive.total_records == 0  # == is case-sensitive in Kusto; resourceGroup is lower case
    other_group = await _query(emulator, "resourcechanges | where resourceGroup =~ 'someone-elses-rg'")
    assert other_group.total_records == 0


async def test_take_cuts_the_rows_and_marks_the_result_truncated(emulator, history):
    answer = await _query(emulator, "resourcechanges | order by tostring(properties.changeAttributes.timestamp) "
                                    "| take 5", top=3)
    assert (answer.count, answer.result_truncated, answer.skip_token) == (3, "true", None)
    assert answer.total_records == 5


async def test_changes_page_with_a_skip_token_for_the_same_query_only(emulator, history):
    group = emulator.resources.group(SUBSCRIPTION, RESOURCE_GROUP)
    for index in range(240):
        emulator.resources.put(group, "Microsoft.Insights/components", f"probe-{index:03d}", location="eastus",
                               properties={"Application_Type": "web"}, at=utcnow() - timedelta(seconds=index))
    query = "resourcechanges | where properties.changeType == 'Create' | project id, name"
    first = await _query(emulator, query)
    assert (first.count, first.result_truncated) == (100, "false") and first.skip_token
    seen = [r["id"] for r in first.data]
    token = first.skip_token
    while token:
        page = await _query(emulator, query, skip_token=token)
        seen += [r["id"] for r in page.data]
        token = page.skip_token
    assert len(seen) == len(set(seen)) == first.total_records
    with pytest.raises(HttpResponseError) as refused:
        await _query(emulator, query + ", type", skip_token=first.skip_token)
    assert refused.value.status_code == 400 and "InvalidSkipToken" in str(refused.value)


@pytest.mark.parametrize("query", [
    "resourcechanges | summarize count() by tostring(properties.changeType)",
    "Resources | where type =~ 'microsoft.web/sites'",
    "resourcechanges | where properties.changeType === 'Update'",
    "resourcechanges | where",
    "resourcechanges | mv-expand properties.changes",
])
async def test_what_it_does_not_answer_is_resource_graphs_400_invalid_query(emulator, history, query):
    with pytest.raises(HttpResponseError) as refused:
        await _query(emulator, query)
    assert refused.value.status_code == 400
    error = refused.value.response.json()["error"]
    assert error["code"] == "BadRequest" and error["message"].startswith("Please provide below info when asking")
    assert error["details"][0]["code"] == "InvalidQuery"


def test_response_shape_api_versions_and_options(emulator, history):
    body = {"subscriptions": [SUBSCRIPTION], "query": "resourcechanges | project id, name | take 3",
            "options": {"$top": 2}}
    with https(emulator) as arm:
        answers = {v: arm.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": v},
                               json=body) for v in ("2021-03-01", "2022-10-01", "1999-01-01")}
        table = arm.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2022-10-01"},
                         json={**body, "options": {"resultFormat": "table"}})
        too_many = arm.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2022-10-01"},
                            json={**body, "options": {"$top": 5000}})
    assert answers["1999-01-01"].status_code == 400
    assert answers["1999-01-01"].json()["error"]["code"] == "InvalidApiVersionParameter"
    for version in ("2021-03-01", "2022-10-01"):
        answer = answers[version]
        assert answer.status_code == 200 and answer.headers["x-ms-user-quota-remaining"].isdigit()
        assert_conforms(answer.json(), official("Resources_FirstPageQuery.json"), open_objects={"data"})
    assert table.json()["data"]["columns"] == [{"name": "id", "type": "string"}, {"name": "name", "type": "string"}]
    assert len(table.json()["data"]["rows"]) == 3
    assert too_many.status_code == 400


def test_more_than_fifteen_queries_in_five_seconds_are_throttled(emulator, history):
    body = {"subscriptions": [SUBSCRIPTION], "query": "resourcechanges | take 1"}
    with https(emulator) as arm:
        answers = [arm.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2022-10-01"},
                            json=body) for _ in range(16)]
    assert [a.status_code for a in answers[:15]] == [200] * 15
    assert answers[14].headers["x-ms-user-quota-remaining"] == "0"
    assert answers[15].status_code == 429 and answers[15].json()["error"]["code"] == "RateLimiting"
    assert "x-ms-user-quota-resets-after" in answers[15].headers


async def test_changes_older_than_fourteen_days_or_not_yet_recorded_are_not_seen(emulator, history):
    group = emulator.resources.group(SUBSCRIPTION, RESOURCE_GROUP)
    emulator.resources.put(group, "Microsoft.Insights/components", "old-probe", location="eastus",
                           at=utcnow() - timedelta(days=15))
    old = await _query(emulator, "resourcechanges | where properties.targetResourceId endswith '/old-probe'")
    emulator.resources.change_latency = 300  # Azure: "available in less than five minutes"
    emulator.resources.put(group, "Microsoft.Insights/components", "new-probe", location="eastus")
    new = await _query(emulator, "resourcechanges | where properties.targetResourceId endswith '/new-probe'")
    assert (old.total_records, new.total_records) == (0, 0)
    assert emulator.resources.get(f"{G}/Microsoft.Insights/components/new-probe") is not None
