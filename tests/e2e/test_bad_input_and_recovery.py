"""Bad input gets a clear 4xx with a JSON body; an accepted event always ends in an incident record, even when
storage or the run queue fails midway."""

from __future__ import annotations

import base64
import json

import pytest

from shared.run import execute

from shared.run import reconcile
from shared.decide.status import Status
from local.alerts import metric_alert
from tests.support.bodies import NOT_ACCEPTABLE_JSON
from tests.support.hang import hang_guard

APP = "augeo-production-api"


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b"", 400, "invalid_json"),
    (b"\xff\xfe\x00", 400, "invalid_json"),
    (b'{"hello": "world"}', 422, "unknown_schema"),
    (b"[1, 2]", 422, "unknown_schema"),
    (json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}}).encode(), 422,
     "invalid_payload"),
    (b'{"x": "' + b"a" * (1 << 20) + b'"}', 413, "payload_too_large"),
])
async def test_bad_alert_bodies_get_a_json_error_that_says_what_is_wrong(app, body, status, code):
    answer_status, answer = await app.post_alert(body)
    assert answer_status == status
    assert answer["error"] == code and answer["message"]
    status_, page = await app.list_incidents()
    assert page["items"] == []  # nothing was recorded for input that was refused


# Each endpoint family that reads a JSON body: the webhook, the command API, an approval decision.
JSON_ENDPOINTS = {
    "alerts": ("receive_alert", "/api/alerts", {}, None),
    "actions": ("request_action", "/api/actions", {}, "Responder.Operator"),
    "approve": ("approve_incident", "/api/incidents/inc-20261125-000000000-abcdef/approve",
                {"incident_id": "inc-20261125-000000000-abcdef"}, "Responder.Approver"),
}


@pytest.mark.parametrize("endpoint", sorted(JSON_ENDPOINTS))
@pytest.mark.parametrize("kind", sorted(NOT_ACCEPTABLE_JSON))
async def test_bodies_that_are_not_acceptable_json_are_400_on_every_endpoint(app, issuer, endpoint, kind):
    """Deep nesting was a RecursionError and a 5,000-digit integer a ValueError: both answered 500."""
    function, path, route_params, role = JSON_ENDPOINTS[endpoint]
    body, says = NOT_ACCEPTABLE_JSON[kind]
    with hang_guard(10, f"POST {path} with {kind}"):
        status, answer = await app.call(function, "POST", path, body, route_params=route_params,
                                        headers=issuer.headers(role) if role else None)
    assert (status, answer["error"]) == (400, "invalid_json"), answer
    assert says in answer["message"]


@pytest.mark.parametrize("target", [
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/" + "a" * 900_000,  # well-formed, huge
    "x" * 900_000,
], ids=["well-formed", "not a resource id"])
async def test_an_action_on_a_huge_target_is_a_422_naming_it(app, issuer, target):
    """A well-formed huge id went into the plan and the incident record, which storage refused: a 503."""
    status, answer = await app.call("request_action", "POST", "/api/actions",
                                    {"action": "swap_back", "target": target, "reason": "hostile"},
                                    headers=issuer.headers("Responder.Operator"))
    assert (status, answer["error"]) == (422, "invalid_request"), answer
    assert any(problem.startswith("target:") for problem in answer["problems"])
    assert len(answer["message"]) < 1_000


async def test_an_unknown_huge_action_is_a_422_that_does_not_echo_it(app, issuer):
    status, answer = await app.call("request_action", "POST", "/api/actions",
                                    {"action": "a" * 900_000, "target": "x", "reason": "hostile"},
                                    headers=issuer.headers("Responder.Operator"))
    assert (status, answer["error"]) == (422, "invalid_request") and "action:" in answer["message"]
    assert len(answer["message"]) < 1_000


async def test_an_invalid_common_schema_alert_names_each_missing_field(app):
    status, answer = await app.post_alert({"schemaId": "azureMonitorCommonAlertSchema",
                                           "data": {"essentials": {"alertRule": "x"}}})
    assert status == 422
    assert "data.essentials.alertId: required" in answer["problems"]
    assert "data.essentials.firedDateTime: required" in answer["problems"]


async def test_a_declared_oversized_body_is_refused_before_reading_it(app):
    status, answer = await app.call("receive_alert", "POST", "/api/alerts", b"{}",
                                    headers={"Content-Length": str(5 << 20)})
    assert status == 413 and answer["error"] == "payload_too_large"


@pytest.mark.parametrize(("declared", "status"), [("\u00b2", 422), ("9" * 5_000, 413), ("00000000042", 422)],
                         ids=["superscript two", "5,000 digits", "leading zeros"])
async def test_an_odd_declared_length_is_not_a_500(app, declared, status):
    """`²` passes str.isdigit() and fails int(); 5,000 digits pass neither int() nor the 1 MiB limit."""
    answer_status, answer = await app.call("receive_alert", "POST", "/api/alerts", b"{}",
                                           headers={"Content-Length": declared})
    assert answer_status == status and answer["error"] in ("payload_too_large", "unknown_schema")


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "sideways"}, "status must be one of"),
    ({"limit": "0"}, "limit must be a whole number from 1 to 200"),
    ({"limit": "many"}, "limit must be"),
    ({"since": "last tuesday"}, "since must be an ISO 8601 time"),
    ({"since": "99999999999d"}, "since must be an ISO 8601 time"),
    ({"since": "1" * 400}, "since must be an ISO 8601 time"),
    ({"since": "1969-01-01T00:00:00Z"}, "since must be an ISO 8601 time after 2000"),
    ({"cursor": "!!!"}, "cursor is not one this API returned"),
    ({"colour": "red"}, "unknown query parameter(s): colour"),
])
async def test_bad_incident_queries_are_400_with_the_reason(app, params, message):
    status, answer = await app.list_incidents(**params)
    assert status == 400 and message in answer["message"]


def _cursor(token: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


ODD_QUERIES = {
    "limit ²": ({"limit": "\u00b2"}, "limit must be a whole number from 1 to 200"),  # isdigit() but not int()
    "limit in Arabic-Indic digits": ({"limit": "\u0663"}, "limit must be"),  # int() reads it as 3
    "limit of 5,000 digits": ({"limit": "9" * 5_000}, "limit must be"),  # over int()'s digit limit
    "status of 10,000 characters": ({"status": "x" * 10_000}, "status must be one of"),
    "component of 10,000 characters": ({"component": "x" * 10_000}, "component must be at most 128"),
    "component with a control character": ({"component": "back\x00end"}, "component must be"),
    "since of 10,000 characters": ({"since": "2" * 10_000}, "since must be"),
    "cursor of 100,000 characters": ({"cursor": "A" * 100_000}, "cursor is not one this API returned"),
    "cursor of nested arrays": ({"cursor": base64.urlsafe_b64encode(b"[" * 3_000).decode()}, "cursor is not one"),
    "cursor that is not base64url": ({"cursor": "eyJ+/"}, "cursor is not one"),
    "cursor with a number for a key": ({"cursor": _cursor({"PartitionKey": 5})}, "cursor is not one"),
    "cursor with other keys": ({"cursor": _cursor({"a": "b"})}, "cursor is not one"),
    "cursor with a control character": ({"cursor": _cursor({"PartitionKey": "a", "RowKey": "\n"})},
                                        "cursor is not one"),
    "an unknown parameter with a long name": ({"colour" * 2_000: "red"}, "unknown query parameter(s): colour"),
}


@pytest.mark.parametrize("kind", sorted(ODD_QUERIES))
async def test_odd_query_values_are_a_400_that_names_the_parameter(app, kind):
    """Some were 500s (`limit=²`, 5,000 digits, a cursor of nested arrays), others went to storage or came back
    whole in the message."""
    params, message = ODD_QUERIES[kind]
    status, answer = await app.list_incidents(**params)
    assert (status, answer["error"]) == (400, "invalid_query"), answer
    assert message in answer["message"] and len(answer["message"]) < 400, answer["message"][:400]


async def test_an_unknown_incident_is_a_json_404(app):
    status, answer = await app.call("get_incident", "GET", "/api/incidents/inc-20261125-000000000-abcdef",
                                    route_params={"incident_id": "inc-20261125-000000000-abcdef"})
    assert status == 404 and answer["error"] == "not_found"
    status, answer = await app.call("get_incident", "GET", "/api/incidents/garbage",
                                    route_params={"incident_id": "garbage"})
    assert status == 404 and "is not an incident id" in answer["message"]


async def test_storage_down_answers_503_so_azure_monitor_retries(app, emulator, monkeypatch, app_env):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    dead = app_env["AzureWebJobsStorage"].replace(app_env["AzureWebJobsStorage"].split("TableEndpoint=")[1]
                                                  .split(";")[0], "http://127.0.0.1:9/devstoreaccount1")
    monkeypatch.setenv("AzureWebJobsStorage", dead)
    from shared import services

    services.forget()
    status, answer = await app.post_alert(metric_alert(site.id))
    assert status == 503 and answer["error"] == "store_unavailable"
    assert "retry later" in answer["message"]


async def test_storage_refusing_the_app_answers_store_refused_not_unavailable(app, emulator, monkeypatch, app_env,
                                                                             caplog):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    key = app_env["AzureWebJobsStorage"].split("AccountKey=")[1].split(";")[0]
    monkeypatch.setenv("AzureWebJobsStorage", app_env["AzureWebJobsStorage"].replace(key, "d3Jvbmcta2V5" * 7))
    from shared import services

    services.forget()  # rebuilt from the environment: a rotated key, storage answers 403
    status, answer = await app.post_alert(metric_alert(site.id))
    assert status == 503 and answer["error"] == "store_refused", answer
    assert "refused" in answer["message"] and "unavailable" not in answer["message"]
    assert "AuthorizationFailure" in answer["message"] or "AuthenticationFailed" in answer["message"]
    refused = [r for r in caplog.records if r.name == "responder.http" and r.levelname == "ERROR"]
    assert refused and "403" in refused[0].getMessage() and "Data Contributor" in refused[0].getMessage()
    assert "d3Jvbmcta2V5" not in caplog.text


async def test_an_incident_whose_queue_message_was_lost_is_redriven_by_the_reconciler(app, emulator, monkeypatch):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    status, body = await app.post_alert(metric_alert(site.id))
    await app.pumps[0]._ensure()
    await app.pumps[0]._queue.clear_messages()  # the message is lost

    services = app.services
    later = services.clock() + services.settings.stuck_after
    monkeypatch.setattr(services, "clock", lambda: later + __import__("datetime").timedelta(seconds=1))
    summary = await reconcile.reconcile(services)
    assert summary.redriven == [body["incident_id"]]
    monkeypatch.undo()
    await app.drain()
    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved"
    assert any(e["step"] == "reconciler" and e["outcome"] == "re-driven" for e in incident["timeline"])


async def test_an_incident_that_never_moves_is_failed_after_the_last_redrive(app, emulator, monkeypatch):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    status, body = await app.post_alert(metric_alert(site.id))
    services = app.services
    from datetime import timedelta

    for round_ in range(services.settings.max_redrives + 1):
        await app.pumps[0]._queue.clear_messages()
        moment = services.clock() + services.settings.stuck_after * (round_ + 2)
        monkeypatch.setattr(services, "clock", lambda moment=moment: moment + timedelta(seconds=1))
        await reconcile.reconcile(services)
    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "failed" and "stuck" in incident["status_reason"]
    assert incident["redrives"] == services.settings.max_redrives


async def test_a_poisoned_run_message_fails_its_incident_with_the_reason(app, emulator, monkeypatch):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    status, body = await app.post_alert(metric_alert(site.id))

    async def storage_breaks(*args, **kwargs):
        raise RuntimeError("table storage fell over")

    monkeypatch.setattr(execute, "_run_step", storage_breaks)  # every delivery fails, as with storage down
    for _ in range(6):
        await app.pumps[0].deliver_once()  # the host's retries, then the poison queue
    monkeypatch.undo()
    await app.drain()  # the poison-queue trigger runs

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == Status.FAILED
    assert "moved to the poison queue" in incident["status_reason"]
    assert emulator.swaps() == []


async def test_the_reconciler_cancels_an_approval_nobody_gave(app, issuer, monkeypatch):
    from datetime import timedelta

    cache = ("/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/augeo-production-rg/providers/"
             "Microsoft.Cache/Redis/augeo-production-redis")
    status, body = await app.call("request_action", "POST", "/api/actions",
                                  {"action": "flush_cache", "target": cache, "params": {"mode": "full"},
                                   "reason": "corrupt cache"}, headers=issuer.headers("Responder.Operator"))
    assert body["status"] == "awaiting_approval"
    services = app.services
    later = services.clock() + services.settings.approval_ttl + timedelta(seconds=1)
    monkeypatch.setattr(services, "clock", lambda: later)

    summary = await reconcile.reconcile(services)

    assert summary.expired == [body["incident_id"]]
    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "cancelled" and "approval window closed" in incident["status_reason"]
    assert (await reconcile.reconcile(services)).expired == []  # once
