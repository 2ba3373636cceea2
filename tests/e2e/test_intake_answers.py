"""What the alert webhook answers when things go wrong, in terms Azure Monitor acts on: it retries only 408,
429, 503 and 504, and pauses an endpoint for 15 minutes after failing. So a failure to record answers 503 with
Retry-After (never 500), within its 10 s; an alert that cannot be processed is recorded rather than lost; an
alert recorded while the run queue is down is accepted and started by the reconciler once the queue is back."""

from __future__ import annotations

import asyncio

import azure.functions as func
import pytest

from shared.run import reconcile
from local.alerts import metric_alert
from tests.support.silent import SilentServer

APP = "augeo-production-api"


async def post(app, payload) -> func.HttpResponse:
    import json

    request = func.HttpRequest("POST", "http://localhost/api/alerts", headers={}, params={}, route_params={},
                               body=json.dumps(payload).encode())
    return await app.functions["receive_alert"](request)


def body_of(response: func.HttpResponse) -> dict:
    import json

    return json.loads(response.get_body())


@pytest.fixture
def a_bug_in_deciding(monkeypatch):
    """A defect met while deciding what to do with an alert (it can be anything: the point is it is not foreseen)."""
    import shared.run.accept

    def broken_match(*args, **kwargs):
        raise KeyError("rules[0].steps")

    monkeypatch.setattr(shared.run.accept, "match", broken_match)


async def test_an_alert_that_meets_a_bug_is_recorded_escalated_not_lost(app, emulator, a_bug_in_deciding):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    payload = metric_alert(site.id)

    first = await post(app, payload)
    again = await post(app, payload)  # Azure Monitor's retry, or a second instance

    assert first.status_code == 202 and body_of(first)["status"] == "escalated"
    assert again.status_code == 200 and body_of(again)["incident_id"] == body_of(first)["incident_id"]
    incident = await app.incident(body_of(first)["incident_id"])
    assert "could not process this alert automatically (KeyError)" in incident["status_reason"]
    assert "backend 5xx rate above threshold" in incident["raw"]  # the payload is kept for the person who acts
    assert emulator.swaps() == []


async def test_an_unexpected_error_with_storage_down_answers_503_with_retry_after(app, app_env, monkeypatch,
                                                                                 a_bug_in_deciding, emulator):
    from shared import services

    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    connection = app_env["AzureWebJobsStorage"]
    table = connection.split("TableEndpoint=")[1].split(";")[0]
    monkeypatch.setenv("AzureWebJobsStorage", connection.replace(table, "http://127.0.0.1:9/devstoreaccount1"))
    services.forget()

    answer = await asyncio.wait_for(post(app, metric_alert(site.id)), timeout=15)

    assert answer.status_code == 503, answer.get_body()
    assert answer.headers.get("Retry-After")
    assert body_of(answer)["error"] in ("store_unavailable", "timeout")


@pytest.fixture
def silent_server():
    """A storage endpoint that accepts connections and never answers."""
    with SilentServer() as server:
        yield server.port


async def test_storage_that_hangs_is_answered_503_within_the_webhooks_time(app, app_env, monkeypatch, emulator,
                                                                         silent_server):
    from shared import services

    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    connection = app_env["AzureWebJobsStorage"]
    table = connection.split("TableEndpoint=")[1].split(";")[0]
    monkeypatch.setenv("AzureWebJobsStorage",
                       connection.replace(table, f"http://127.0.0.1:{silent_server}/devstoreaccount1"))
    monkeypatch.setenv("RESPONDER_INTAKE_DEADLINE", "2s")
    services.forget()

    answer = await asyncio.wait_for(post(app, metric_alert(site.id)), timeout=15)  # a hang guard, not a target

    assert answer.status_code == 503 and answer.headers.get("Retry-After")
    assert body_of(answer)["error"] in ("timeout", "store_unavailable")


async def test_an_alert_recorded_while_the_queue_is_down_is_accepted_and_started_once_it_is_back(
        app, app_env, monkeypatch, emulator):
    from datetime import timedelta

    from shared import services

    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    connection = app_env["AzureWebJobsStorage"]
    queue = connection.split("QueueEndpoint=")[1].split(";")[0]
    monkeypatch.setenv("AzureWebJobsStorage", connection.replace(queue, "http://127.0.0.1:9/devstoreaccount1"))
    services.forget()

    answer = await asyncio.wait_for(post(app, metric_alert(site.id)), timeout=15)

    assert answer.status_code == 202, answer.get_body()
    accepted = body_of(answer)
    assert accepted["status"] == "accepted" and accepted["queued"] is False
    await services.current().aclose()
    monkeypatch.setenv("AzureWebJobsStorage", connection)  # the queue is back
    services.forget()
    later = services.current().clock() + services.current().settings.stuck_after + timedelta(seconds=1)
    monkeypatch.setattr(services.current(), "clock", lambda: later)
    summary = await reconcile.reconcile(services.current())
    assert summary.redriven == [accepted["incident_id"]]
    monkeypatch.undo()
    await app.drain()
    incident = await app.incident(accepted["incident_id"])
    assert incident["status"] == "resolved", incident["timeline"]
    assert any(e["outcome"] == "not queued" for e in incident["timeline"])
