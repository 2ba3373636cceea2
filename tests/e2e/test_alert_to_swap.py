"""Alert webhook -> incident record -> verified swap-back, end to end: the function handlers called as the
host calls them, real Azurite, the real azure-mgmt-web client over HTTPS against the local emulator."""

from __future__ import annotations

import asyncio

from local.alerts import metric_alert

APP = "augeo-production-api"


def broken_release_in_production(emulator, **kwargs):
    return emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"}, **kwargs)


def outcomes(incident: dict) -> list[str]:
    return [f"{entry['step']} {entry['outcome']}" for entry in incident["timeline"]]


async def test_healthy_swap_back_puts_the_previous_release_back_into_production(app, emulator):
    site = broken_release_in_production(emulator)

    status, body = await app.post_alert(metric_alert(site.id))
    assert status == 202, body
    assert body["status"] == "accepted" and body["duplicate"] is False
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident
    assert emulator.release(APP, "production") == "v1.2.2"
    assert emulator.release(APP, "staging") == "v1.2.3"
    assert len(emulator.swaps()) == 1
    swap = emulator.swaps()[0]
    assert swap.path.endswith("/sites/augeo-production-api/slots/staging/slotsswap")
    assert swap.body == {"targetSlot": "production", "preserveVnet": True}
    assert outcomes(incident) == [
        "intake accepted", "executor started", "swap_back[0] started", "swap_back[0] precheck ok",
        "swap_back[0] executed", "swap_back[0] verified", "executor resolved"]
    assert incident["component"] == "backend" and incident["rule"] == "backend-5xx-swap-back"
    assert incident["expected_completion"] is not None
    assert "v1.2.2" in incident["status_reason"]


async def test_swap_back_refuses_when_staging_is_unhealthy(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3", "v1.2.2"})

    status, body = await app.post_alert(metric_alert(site.id))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "escalated"
    assert "staging slot is also problematic" in incident["status_reason"]
    assert "redeploy a previous version" in incident["status_reason"]
    assert emulator.swaps() == []
    assert emulator.release(APP, "production") == "v1.2.3"


async def test_swap_back_refuses_when_production_has_not_changed_recently(app, emulator):
    site = broken_release_in_production(emulator, changed_minutes_ago=3 * 24 * 60)

    status, body = await app.post_alert(metric_alert(site.id))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "escalated"
    assert "production has not changed" in incident["status_reason"]
    assert emulator.swaps() == []


async def test_production_still_failing_after_swap_escalates_without_a_second_swap(app, emulator):
    site = broken_release_in_production(emulator)
    # whatever runs in production fails (say, a broken database), so the swap cannot fix it
    emulator.fault("GET /health", server=f"health:{APP}/production", status=503, times=None)

    status, body = await app.post_alert(metric_alert(site.id))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "escalated", incident
    assert "still unhealthy after the swap-back" in incident["status_reason"]
    assert "not swapping again" in incident["status_reason"]
    assert len(emulator.swaps()) == 1
    # a second alert for the same app inside the cooldown does not swap again either
    status, again = await app.post_alert(metric_alert(site.id))
    await app.drain()
    assert again["status"] == "suppressed"
    assert len(emulator.swaps()) == 1


async def test_duplicate_alert_delivery_creates_one_incident_and_one_swap(app, emulator):
    site = broken_release_in_production(emulator)
    payload = metric_alert(site.id)

    answers = await asyncio.gather(*(app.post_alert(payload) for _ in range(10)))
    await app.drain()

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 9 + [202]
    assert len({body["incident_id"] for _, body in answers}) == 1
    status, page = await app.list_incidents()
    assert len(page["items"]) == 1
    assert len(emulator.swaps()) == 1


async def test_throttled_and_unavailable_azure_is_retried_and_the_swap_succeeds(app, emulator):
    site = broken_release_in_production(emulator)
    emulator.fault(r"GET .*/sites/augeo-production-api$", status=429, headers={"Retry-After": "1"})
    emulator.fault(r"POST .*/slotsswap$", status=503)

    status, body = await app.post_alert(metric_alert(site.id))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident
    assert emulator.release(APP, "production") == "v1.2.2"
    throttled = emulator.requests("GET", r"/sites/augeo-production-api$")
    assert len(throttled) >= 2  # the 429 was retried
    assert len(emulator.swaps()) == 2  # the 503 was retried once; one swap happened
    assert emulator.web.operations and len(emulator.web.operations) == 1


async def test_failed_swap_operation_fails_the_incident_with_azures_message(app, emulator):
    site = broken_release_in_production(emulator)
    emulator.web.scenario.swap_failure = {"code": "SwapFailed",
                                          "message": "Cannot swap slots because the staging slot failed warm-up."}

    status, body = await app.post_alert(metric_alert(site.id))
    await app.drain()

    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "failed"
    assert "SwapFailed: Cannot swap slots because the staging slot failed warm-up." in incident["status_reason"]
    assert emulator.release(APP, "production") == "v1.2.3"
    assert len(emulator.swaps()) == 1


async def test_resolved_alert_takes_no_action_and_is_recorded_on_its_incident(app, emulator):
    site = broken_release_in_production(emulator)
    fired = metric_alert(site.id)
    status, body = await app.post_alert(fired)
    await app.drain()
    swaps_before = len(emulator.swaps())

    resolved = metric_alert(site.id, condition="Resolved", alert_id=fired["data"]["essentials"]["alertId"])
    resolved["data"]["essentials"]["firedDateTime"] = fired["data"]["essentials"]["firedDateTime"]
    status, answer = await app.post_alert(resolved)
    await app.drain()

    assert status == 202 and answer["incident_id"] == body["incident_id"]
    assert len(emulator.swaps()) == swaps_before
    incident = await app.incident(body["incident_id"])
    assert "alert resolved" in outcomes(incident)
    assert incident["alert_resolved_at"] is not None
    status, again = await app.post_alert(resolved)  # delivered twice: recorded once
    incident = await app.incident(body["incident_id"])
    assert status == 200 and outcomes(incident).count("alert resolved") == 1


async def test_resolved_alert_with_no_incident_is_recorded_and_does_nothing(app, emulator):
    site = broken_release_in_production(emulator)

    status, body = await app.post_alert(metric_alert(site.id, condition="Resolved"))
    await app.drain()

    assert status == 202 and body["status"] == "suppressed"
    incident = await app.incident(body["incident_id"])
    assert "never triggers an action" in incident["status_reason"]
    assert emulator.swaps() == []
