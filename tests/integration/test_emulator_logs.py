"""The emulated Log Analytics answers azure-monitor-query's LogsQueryClient (aio, over HTTPS) as the service does:
the official shapes, partial results, errors, the token audience; and its figures follow the scenario (a broken
release in production fails many requests, a swap to a healthy one few), with ingestion lag and sampling."""

from __future__ import annotations

import json
import ssl
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryPartialResult, LogsQueryResult, LogsQueryStatus
from azure.monitor.query.aio import LogsQueryClient

from local.emulator import Emulator, ManualClock
from tests.support.identity import ManagedIdentity

REFERENCE = Path(__file__).resolve().parents[2] / "local" / "emulator" / "reference"
AUDIENCE = "https://api.loganalytics.io"
APP = "augeo-production-api"
EXCEPTIONS = "AppExceptions | where TimeGenerated > ago(15m) | summarize n = sum(ItemCount)"
REQUESTS = ("AppRequests | where TimeGenerated > ago({window}) "
            "| summarize total = sum(ItemCount), failed = sumif(ItemCount, Success == false)")
COLUMN_TYPES = {"bool", "datetime", "dynamic", "int", "long", "real", "string", "guid", "decimal", "timespan"}
START = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(clock):
    with Emulator(clock=clock) as emu:
        yield emu


@pytest.fixture
def insights(emulator, clock):
    emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    return emulator.add_app_insights(APP)


@pytest.fixture
def identity(issuer) -> ManagedIdentity:
    return ManagedIdentity(issuer)


@pytest.fixture
async def logs(emulator, identity):
    async with LogsQueryClient(identity, endpoint=emulator.logs_url, audience=AUDIENCE,
                               connection_verify=emulator.ca_path, retry_total=0) as client:
        yield client


@pytest.fixture
def raw(emulator, issuer):
    """A plain HTTPS client with a valid token, for what the SDK hides (status codes, bodies, headers)."""
    token = issuer.token(version="1.0", audience=AUDIENCE, name=None)
    with httpx.Client(base_url=emulator.logs_url, verify=ssl.create_default_context(cafile=emulator.ca_path),
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _official(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())["responses"]["200"]["body"]


def _totals(result: LogsQueryResult) -> tuple[int, int]:
    row = result.tables[0].rows[0]
    return int(row["total"]), int(row["failed"])


async def _swap_to_staging(emulator, site) -> None:
    """Swap staging into production through ARM, as the responder does, and wait for App Service to finish."""
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_path),
                      headers={"Authorization": "Bearer emulator-token"}) as arm:
        emulator.web.scenario.swap_seconds = 0.05
        answer = arm.post(f"{emulator.arm_url}{site.id}/slots/staging/slotsswap", params={"api-version": "2025-05-01"},
                          json={"targetSlot": "production", "preserveVnet": True})
        assert answer.status_code == 202
        deadline = time.monotonic() + 5
        while arm.get(answer.headers["Location"]).status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert emulator.release(APP) == "v1.2.2"


# ----- shapes ----------------------------------------------------------------------------------------
async def test_workspace_query_answers_the_official_shape_with_the_figures_the_telemetry_holds(
        emulator, insights, clock, logs, raw):
    result = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="30m"),
                                        timespan=timedelta(hours=1))
    assert isinstance(result, LogsQueryResult) and result.status == LogsQueryStatus.SUCCESS
    table = result.tables[0]
    assert table.name == "PrimaryResult" and table.columns == ["total", "failed"]
    assert table.columns_types == ["long", "long"]
    expected = emulator.telemetry.figures(insights, clock.now() - 1800, clock.now())
    assert _totals(result) == (expected["requests"], expected["failed"]) and expected["requests"] > 1000

    body = raw.post(f"/v1/workspaces/{insights.workspace.id}/query",
                    json={"query": REQUESTS.format(window="30m"), "timespan": "PT3600.0S", "workspaces": None}).json()
    official = _official("LogAnalytics_Query_Execute.json")
    assert set(body) <= {"tables", "statistics", "render", "error"} and "error" not in body
    assert set(body["tables"][0]) == set(official["tables"][0]) == {"name", "columns", "rows"}
    assert all(set(c) == {"name", "type"} and c["type"] in COLUMN_TYPES for c in body["tables"][0]["columns"])
    # numbers as the official example encodes them: strings ("1", "1.286", "true")
    assert all(isinstance(value, str) for value in body["tables"][0]["rows"][0])
    assert body["tables"][0]["rows"][0] == [str(expected["requests"]), str(expected["failed"])]


async def test_the_request_is_what_the_sdk_sends(emulator, insights, logs):
    await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=timedelta(hours=1),
                               server_timeout=30, include_statistics=True)
    request = emulator.recorder.matching("POST", r"^/v1/workspaces/[^/]+/query$", server="logs")[-1]
    assert request.body == {"query": REQUESTS.format(window="5m"), "timespan": "PT3600.0S", "workspaces": None}
    assert request.headers["Prefer"] == "wait=30,include-statistics=true"
    assert request.headers["Authorization"].startswith("Bearer ey")


async def test_statistics_come_only_when_asked_for(insights, logs):
    plain = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None)
    asked = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None,
                                       include_statistics=True)
    assert plain.statistics is None and asked.statistics["query"]["datasetStatistics"][0]["tableRowCount"] == 1


async def test_native_encoding_answers_json_numbers_and_booleans(emulator, insights, logs):
    emulator.logs.scenario.encoding = "native"
    result = await logs.query_workspace(insights.workspace.id,
                                        "AppRequests | summarize n = sum(ItemCount) by Success", timespan=None)
    rows = {row["Success"]: row["n"] for row in result.tables[0].rows}
    assert set(rows) == {True, False} and all(isinstance(n, int) for n in rows.values())


async def test_a_resource_query_on_the_component_speaks_the_classic_schema(emulator, insights, clock, logs):
    """Through the component, `requests` works, and its `success` is a string ("True"/"False"), not a bool."""
    result = await logs.query_resource(insights.resource_id, "requests | summarize sum(itemCount) by success",
                                       timespan=timedelta(minutes=20))
    table = result.tables[0]
    assert table.columns == ["success", "sum_itemCount"] and table.columns_types == ["string", "long"]
    by_outcome = {row["success"]: int(row["sum_itemCount"]) for row in table.rows}
    expected = emulator.telemetry.figures(insights, clock.now() - 1200, clock.now())
    assert by_outcome == {"True": expected["requests"] - expected["failed"], "False": expected["failed"]}
    request = emulator.recorder.matching("POST", r"/providers/Microsoft\.Insights/components/", server="logs")[-1]
    assert request.path == f"/v1{insights.resource_id}/query"


async def test_a_workspace_query_knows_no_classic_table(insights, logs):
    with pytest.raises(HttpResponseError) as refused:
        await logs.query_workspace(insights.workspace.id, "requests | summarize count()", timespan=None)
    assert refused.value.status_code == 400
    assert "Failed to resolve table or column expression named 'requests'" in str(refused.value)


async def test_a_resource_query_on_the_app_service_itself_finds_no_requests(emulator, insights, logs):
    """App Insights records its rows under the component's _ResourceId: asking the site reads "nothing",
    which a watch must never take for "healthy"."""
    site = emulator.web.site(APP)
    grouped = await logs.query_resource(site.id, "AppRequests | summarize sum(ItemCount) by Success",
                                        timespan=timedelta(minutes=30))
    assert grouped.status == LogsQueryStatus.SUCCESS and grouped.tables[0].rows == []
    ungrouped = await logs.query_resource(site.id, REQUESTS.format(window="30m"), timespan=None)
    assert _totals(ungrouped) == (0, 0)  # Kusto: no group keys, one row, and an empty sum is 0


async def test_resource_ids_match_without_regard_to_case_and_rows_carry_them_in_lower_case(insights, logs):
    upper = await logs.query_resource(insights.resource_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"),
                                      REQUESTS.format(window="30m"), timespan=None)
    by_id = ('AppRequests | where TimeGenerated > ago(30m) and _ResourceId {operator} "{id}" '
             '| summarize total = sum(ItemCount), failed = sumif(ItemCount, Success == false)')
    exact = await logs.query_workspace(insights.workspace.id, by_id.format(operator="==", id=insights.resource_id),
                                       timespan=None)
    folded = await logs.query_workspace(insights.workspace.id, by_id.format(operator="=~", id=insights.resource_id),
                                        timespan=None)
    assert _totals(upper)[0] > 0
    assert _totals(exact) == (0, 0)  # `==` is case-sensitive and Log Analytics stores _ResourceId in lower case
    assert _totals(folded) == _totals(upper)


# ----- figures that follow the scenario ------------------------------------------------------------
async def test_error_rate_is_high_while_the_broken_release_serves_production_and_low_after_the_swap(
        emulator, insights, clock, logs):
    before = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="15m"), timespan=None)
    total, failed = _totals(before)
    assert failed / total > 0.25
    exceptions = await logs.query_workspace(insights.workspace.id, EXCEPTIONS, timespan=None)
    assert int(exceptions.tables[0].rows[0]["n"]) > 0.5 * failed

    await _swap_to_staging(emulator, emulator.web.site(APP))
    clock.advance(20 * 60)
    after = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="15m"), timespan=None)
    total, failed = _totals(after)
    assert total > 1000 and failed / total < 0.03
    quiet = await logs.query_workspace(insights.workspace.id, EXCEPTIONS, timespan=None)
    assert int(quiet.tables[0].rows[0]["n"]) < 0.1 * int(exceptions.tables[0].rows[0]["n"])


async def test_the_past_keeps_its_figures_after_the_swap(emulator, insights, clock, logs):
    window = (datetime.fromtimestamp(START - 900, timezone.utc), datetime.fromtimestamp(START - 300, timezone.utc))
    first = _totals(await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="1h"), timespan=window))
    await _swap_to_staging(emulator, emulator.web.site(APP))
    clock.advance(600)
    again = _totals(await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="1h"), timespan=window))
    assert again == first and first[1] / first[0] > 0.25


async def test_a_failure_rate_can_be_set_whatever_production_runs(emulator, insights, clock, logs):
    await _swap_to_staging(emulator, emulator.web.site(APP))
    emulator.telemetry.set_failure_rate(insights, 0.3)  # the cause is elsewhere: the swap does not help
    clock.advance(20 * 60)
    total, failed = _totals(await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="15m"),
                                                       timespan=None))
    assert 0.2 < failed / total < 0.4


async def test_rows_appear_only_after_the_ingestion_lag(emulator, insights, clock, logs):
    emulator.telemetry.scenario.ingestion_lag = 150
    last_two_minutes = (datetime.fromtimestamp(START - 120, timezone.utc), datetime.fromtimestamp(START, timezone.utc))
    query = "AppRequests | summarize n = sum(ItemCount)"
    empty = await logs.query_workspace(insights.workspace.id, query, timespan=last_two_minutes)
    assert empty.tables[0].rows[0]["n"] == "0"
    clock.advance(60)  # the minute START-120..START-60 ended 120 s ago: still within the 150 s lag
    assert (await logs.query_workspace(insights.workspace.id, query, timespan=last_two_minutes)
            ).tables[0].rows[0]["n"] == "0"
    clock.advance(60)
    half = int((await logs.query_workspace(insights.workspace.id, query, timespan=last_two_minutes)
                ).tables[0].rows[0]["n"])
    clock.advance(60)
    whole = int((await logs.query_workspace(insights.workspace.id, query, timespan=last_two_minutes)
                 ).tables[0].rows[0]["n"])
    assert 0 < half < whole
    assert whole == emulator.telemetry.figures(insights, START - 120, START)["requests"]


async def test_sampling_makes_count_undercount_where_sum_of_item_count_does_not(emulator, insights, clock, logs):
    result = await logs.query_workspace(
        insights.workspace.id, "AppRequests | where TimeGenerated > ago(30m) "
                               "| summarize records = count(), items = sum(ItemCount)", timespan=None)
    row = result.tables[0].rows[0]
    expected = emulator.telemetry.figures(insights, clock.now() - 1800, clock.now())
    assert int(row["items"]) == expected["requests"]
    assert int(row["records"]) == expected["request_records"] < 0.8 * expected["requests"]


async def test_per_minute_bins_add_up_to_the_window(emulator, insights, clock, logs):
    result = await logs.query_workspace(
        insights.workspace.id, "AppRequests | where TimeGenerated between (ago(12m) .. now()) "
                               "| summarize n = sum(ItemCount) by Success, bin(TimeGenerated, 1m)", timespan=None)
    table = result.tables[0]
    assert table.columns == ["Success", "TimeGenerated", "n"]
    assert table.columns_types == ["bool", "datetime", "long"]
    assert all(isinstance(row["TimeGenerated"], datetime) and row["TimeGenerated"].second == 0 for row in table.rows)
    assert {row["Success"] for row in table.rows} == {"true", "false"}  # bools encoded as the official example does
    assert sum(int(row["n"]) for row in table.rows) == emulator.telemetry.figures(insights, clock.now() - 720,
                                                                                  clock.now())["requests"]
    minutes = sorted({row["TimeGenerated"] for row in table.rows})
    assert len(minutes) == 10  # 12 minutes asked, the last 2 not yet ingested


async def test_timespan_forms_the_sdk_sends_bound_the_rows(emulator, insights, clock, logs):
    end = datetime.fromtimestamp(START - 300, timezone.utc)
    forms = {"interval": (end - timedelta(minutes=10), end), "start and duration": (end - timedelta(minutes=10),
                                                                                    timedelta(minutes=10))}
    expected = emulator.telemetry.figures(insights, START - 900, START - 300)
    for name, timespan in forms.items():
        result = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="1h"), timespan=timespan)
        assert _totals(result) == (expected["requests"], expected["failed"]), name
    bodies = [r.body["timespan"] for r in emulator.recorder.matching("POST", "/query$", server="logs")]
    assert bodies[0].count("/") == 1 and bodies[1].endswith("/PT600.0S")


# ----- partial results and errors ------------------------------------------------------------------
async def test_a_partial_result_is_a_logs_query_partial_result_once(emulator, insights, logs):
    emulator.logs.scenario.partial = {"times": 1}
    partial = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="15m"), timespan=None)
    assert isinstance(partial, LogsQueryPartialResult) and partial.status == LogsQueryStatus.PARTIAL
    assert partial.partial_error.code == "PartialError"
    assert partial.partial_error.details[0]["code"] == "EngineError"
    total, failed = int(partial.partial_data[0].rows[0]["total"]), int(partial.partial_data[0].rows[0]["failed"])
    assert total > 0 and failed == 0  # the part that failed held the failures: it looks healthy, and is not
    complete = await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="15m"), timespan=None)
    assert complete.status == LogsQueryStatus.SUCCESS and _totals(complete)[1] > 0


async def test_the_partial_body_is_tables_and_an_error(emulator, insights, raw):
    emulator.logs.scenario.partial = {"times": 1, "message": "The results of this query exceed the set limit."}
    response = raw.post(f"/v1/workspaces/{insights.workspace.id}/query",
                        json={"query": REQUESTS.format(window="15m"), "timespan": None, "workspaces": None})
    body = response.json()
    assert response.status_code == 200 and set(body) == {"tables", "error"}
    assert body["error"]["details"][0]["innererror"]["message"] == "The results of this query exceed the set limit."


async def test_a_query_the_emulator_cannot_run_is_the_services_400(insights, logs):
    for query in ("AppRequests | take 10", "AppRequests | summarize avg(DurationMs)",
                  "AppRequests | summarize count() by success",
                  'AppRequests | where Success == "False" | summarize count()',
                  "AppRequests | summarize n = count() | where n > 1"):
        with pytest.raises(HttpResponseError) as refused:
            await logs.query_workspace(insights.workspace.id, query, timespan=None)
        assert refused.value.status_code == 400, query
        assert "BadArgumentError" in str(refused.value), query


async def test_service_errors_and_throttling_are_http_response_errors(emulator, insights, logs):
    emulator.fail_logs_queries(503)
    with pytest.raises(HttpResponseError) as unavailable:
        await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None)
    assert unavailable.value.status_code == 503 and "ServiceUnavailableError" in str(unavailable.value)
    emulator.fail_logs_queries(429, retry_after="7")
    with pytest.raises(HttpResponseError) as throttled:
        await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None)
    assert throttled.value.status_code == 429 and throttled.value.response.headers["Retry-After"] == "7"
    assert (await logs.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None)).status \
        == LogsQueryStatus.SUCCESS


async def test_unknown_workspaces_and_resources_are_404(emulator, insights, logs):
    for workspace in ("augeo-production-logs", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(HttpResponseError) as missing:
            await logs.query_workspace(workspace, REQUESTS.format(window="5m"), timespan=None)
        assert missing.value.status_code == 404 and "PathNotFoundError" in str(missing.value)
    with pytest.raises(HttpResponseError) as unknown:
        await logs.query_resource(insights.resource_id.replace(insights.name, "nope"), REQUESTS.format(window="5m"),
                                  timespan=None)
    assert unknown.value.status_code == 404 and "ResourceNotFoundError" in str(unknown.value)


async def test_a_workspace_without_data_answers_204_which_the_sdk_fails_to_decode(emulator, insights, logs, raw):
    """Documented: no data in the workspace, 204 No Content. The SDK accepts only 200 and then decodes the empty
    body as an error: the caller sees a JSONDecodeError (a ValueError), not an HttpResponseError."""
    empty = emulator.add_workspace("empty-logs")
    response = raw.post(f"/v1/workspaces/{empty.id}/query", json={"query": REQUESTS.format(window="5m")})
    assert response.status_code == 204 and response.content == b""
    with pytest.raises(json.JSONDecodeError):
        await logs.query_workspace(empty.id, REQUESTS.format(window="5m"), timespan=None)


@pytest.mark.parametrize(("timespan", "fragment"), [("PT", "PT"), ("15 minutes", "15 minutes"),
                                                    ("2026-12-01T10:00:00Z/2026-12-01T09:00:00Z", "2026-12-01")])
def test_a_timespan_that_is_not_iso_8601_is_a_400(insights, raw, timespan, fragment):
    response = raw.post(f"/v1/workspaces/{insights.workspace.id}/query",
                        json={"query": REQUESTS.format(window="5m"), "timespan": timespan})
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadArgumentError"
    assert fragment in response.json()["error"]["innererror"]["message"]


def test_a_post_without_a_json_content_type_gets_the_documented_empty_200(insights, raw):
    response = raw.post(f"/v1/workspaces/{insights.workspace.id}/query", content=b'{"query": "AppRequests"}',
                        headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and response.content == b""


def test_other_paths_and_methods_are_path_not_found(insights, raw):
    for method, path in (("POST", f"/v2/workspaces/{insights.workspace.id}/query"),
                         ("DELETE", f"/v1/workspaces/{insights.workspace.id}/query"),
                         ("POST", f"/v1/workspaces/{insights.workspace.id}/search")):
        response = raw.request(method, path, json={"query": "AppRequests | summarize count()"})
        assert response.status_code == 404 and response.json()["error"]["code"] == "PathNotFoundError", path


# ----- authentication --------------------------------------------------------------------------------
async def test_a_client_left_with_the_default_audience_is_refused(emulator, insights, identity):
    """The SDK's audience defaults to its endpoint: pointed anywhere but api.loganalytics.io, it must be given
    `audience=https://api.loganalytics.io`, or the service refuses the token."""
    async with LogsQueryClient(identity, endpoint=emulator.logs_url, connection_verify=emulator.ca_path,
                               retry_total=0) as client:
        with pytest.raises(HttpResponseError) as refused:
            await client.query_workspace(insights.workspace.id, REQUESTS.format(window="5m"), timespan=None)
    assert refused.value.status_code == 403 and "InvalidTokenError" in str(refused.value)
    assert identity.scopes == [f"{emulator.logs_url}/.default"]


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "AuthenticationFailed"),
    ({"Authorization": "Bearer emulator-token"}, 403, "InvalidAuthenticationToken"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 403, "InvalidAuthenticationToken"),
])
def test_missing_or_malformed_tokens_are_refused(emulator, insights, headers, status, code):
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_path)) as client:
        response = client.post(f"{emulator.logs_url}/v1/workspaces/{insights.workspace.id}/query", headers=headers,
                               json={"query": REQUESTS.format(window="5m")})
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_expired_tokens_and_tokens_for_another_audience_are_refused(emulator, issuer, insights):
    tokens = {"expired": (issuer.token(version="1.0", audience=AUDIENCE, name=None, expires_in=-60),
                          "InvalidAuthenticationToken"),
              "for ARM": (issuer.token(version="1.0", audience="https://management.azure.com", name=None),
                          "InvalidTokenError"),
              "trailing slash": (issuer.token(version="1.0", audience=AUDIENCE + "/", name=None), "InvalidTokenError"),
              "not from Entra ID": (issuer.token(version="1.0", audience=AUDIENCE, name=None,
                                                 issuer="https://login.example.com/"), "InvalidAuthenticationToken")}
    with httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_path)) as client:
        for name, (token, code) in tokens.items():
            response = client.post(f"{emulator.logs_url}/v1/workspaces/{insights.workspace.id}/query",
                                   headers={"Authorization": f"Bearer {token}"},
                                   json={"query": REQUESTS.format(window="5m")})
            assert response.status_code == 403 and response.json()["error"]["code"] == code, name


async def test_the_app_s_emulator_credential_is_accepted_for_log_analytics(emulator, insights):
    """The local demo's credential mints a token for the Log Analytics audience the emulator checks (the fixed
    token it gives ARM is refused there, as the service would refuse it)."""
    from shared.adapters.azure import EmulatorCredential

    async with LogsQueryClient(EmulatorCredential(), endpoint=emulator.logs_url, audience=AUDIENCE,
                               connection_verify=emulator.ca_path, retry_total=0) as client:
        result = await client.query_workspace(insights.workspace.id, EXCEPTIONS, timespan=timedelta(hours=1))
    assert result.status == LogsQueryStatus.SUCCESS
