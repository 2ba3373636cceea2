"""Swap-back against App Service as it really behaves: a 409 while another operation holds the site, the swap's
long-running operation in each form Azure may use (Location only by default, Azure-AsyncOperation, no header at
all) and each way it can fail, App Service's own error body, and the kinds of apps people run (a single
container, a Linux code app, a sidecar app, a reused tag). Each test failed on the code before issue 10."""

from __future__ import annotations

import asyncio

import pytest

from local.alerts import metric_alert

APP = "augeo-production-api"


def outcomes(incident: dict) -> list[str]:
    return [f"{entry['step']} {entry['outcome']}" for entry in incident["timeline"]]


def details(incident: dict) -> str:
    return "\n".join(f"{e['step']} {e['outcome']}: {e['detail']}" for e in incident["timeline"])


async def run_alert(app, site) -> dict:
    status, body = await app.post_alert(metric_alert(site.id))
    assert status == 202, body
    await app.drain()
    return await app.incident(body["incident_id"])


async def test_a_swap_refused_with_409_while_a_deployment_runs_is_asked_again_and_resolves(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.hold(APP, writes=1, operation="Update")  # a deployment holds the site for the first ask

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    assert len(emulator.swaps()) == 2  # refused once, asked again once
    assert emulator.release(APP) == "v1.2.2"
    waiting = [e["detail"] for e in incident["timeline"] if e["outcome"] == "waiting"]
    assert waiting and "Cannot modify this site because another operation is in progress" in waiting[0]
    assert "OperationName: Update" in waiting[0]  # App Service's own text, not "invalid status 'Conflict'"
    step = incident["steps"][0]
    assert step["retries"] == 0  # waiting for another operation used none of the step's retries


async def test_a_swap_refused_for_longer_than_the_conflict_timeout_escalates_with_azures_words(app, emulator,
                                                                                            rules_file):
    rules_file.write_text(rules_file.read_text().replace('"conflict_interval": 0.2', '"conflict_interval": 0.2, '
                                                         '"conflict_timeout": 0.5'))
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.hold(APP, seconds=60)

    incident = await run_alert(app, site)

    assert incident["status"] == "escalated", details(incident)
    assert "kept refusing the swap" in incident["status_reason"]
    assert "another operation is in progress" in incident["status_reason"]
    assert emulator.release(APP) == "v1.2.3"


async def test_a_location_only_swap_that_ends_in_http_500_fails_the_incident_with_azures_message(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_failure = {"status": 500, "code": "InternalServerError",
                                          "message": "An error occurred while swapping slots: worker unavailable."}

    incident = await run_alert(app, site)

    assert incident["status"] == "failed", details(incident)
    assert "InternalServerError: An error occurred while swapping slots: worker unavailable." in \
        incident["status_reason"]
    assert "HTTP 500" in incident["status_reason"]
    assert len(emulator.swaps()) == 1  # a failed swap is not asked again
    assert emulator.release(APP) == "v1.2.3"


async def test_a_swap_that_fails_with_400_on_its_location_url_fails_with_the_reason(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_failure = {"status": 400, "code": "SwapFailed",
                                          "message": "The slot 'staging' failed to warm up."}

    incident = await run_alert(app, site)

    assert incident["status"] == "failed"
    assert "SwapFailed: The slot 'staging' failed to warm up." in incident["status_reason"]


async def test_a_swap_refused_on_its_location_url_with_409_is_asked_again(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_failure = {"status": 409, "code": "Conflict", "times": 1,
                                          "message": "Cannot swap: an app settings update is in progress."}

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    assert len(emulator.swaps()) == 2
    assert "an app settings update is in progress" in details(incident)


async def test_a_swap_answered_without_any_polling_header_is_followed_by_watching_the_slots(app, emulator):
    """The SDK takes a 202 with no Location for 'already done'; the swap is still running."""
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_lro = "none"
    emulator.web.scenario.swap_seconds = 2.0  # longer than the verification window of the test rules

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    assert len(emulator.swaps()) == 1 and emulator.release(APP) == "v1.2.2"


async def test_the_azure_async_operation_form_still_resolves(app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_lro = "async-operation"
    emulator.web.scenario.retry_after = "1"

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    assert emulator.requests("GET", r"/operations/")  # it followed the operation resource


@pytest.mark.parametrize(("kind", "extra"), [
    ("code", {}),                                   # PYTHON|3.11 in both slots; /health names the version
    ("code", {"reports_version": False}),           # ... and does not: the deployments tell them apart
    ("sidecar", {}),                                # SITECONTAINERS in both; the main container's image differs
    ("sidecar", {"reports_version": False}),
    ("container", {"reused_tag": "latest"}),        # DOCKER|backend:latest in both slots
    ("container", {"reused_tag": "latest", "reports_version": False}),
])
async def test_every_kind_of_app_is_swapped_back(app, emulator, kind, extra):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"}, kind=kind, **extra)

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    assert emulator.release(APP) == "v1.2.2" and len(emulator.swaps()) == 1


async def test_a_reused_tag_with_nothing_else_to_tell_the_slots_apart_is_not_taken_for_the_same_release(
        app, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"}, reused_tag="latest",
                            reports_version=False)
    for slot in site.slots.values():
        slot.deployments.clear()  # nothing but the (reused) tag: unknown, never "the same"

    incident = await run_alert(app, site)

    assert incident["status"] == "resolved", details(incident)
    precheck = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "precheck ok")
    assert "is not known" in precheck


@pytest.mark.parametrize(("kind", "extra"), [("container", {}), ("code", {"reports_version": False})])
async def test_the_same_release_in_both_slots_escalates_instead_of_swapping(app, emulator, kind, extra):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.3", broken={"v1.2.3"}, kind=kind, **extra)
    site.slots["staging"].deployments = list(site.slots["production"].deployments)  # one deployment in both
    emulator.web.scenario.broken_releases = set()
    emulator.fault("GET /health", server=f"health:{APP}/production", status=503, times=None)

    incident = await run_alert(app, site)

    assert incident["status"] == "escalated", details(incident)
    assert "staging runs the same release as production" in incident["status_reason"]
    assert emulator.swaps() == []


async def test_no_invocation_is_held_open_for_a_long_verification(app, app_env, emulator, monkeypatch, rules_file):
    """A verification window of 30 s is not waited out in one invocation: the step is handed to a delayed
    message once the invocation's budget (20 s) is spent. The services' clock is a test's: no real waiting."""
    from shared import services
    from shared.config import Settings
    from shared.run import execute
    from tests.support.clock import FakeClock

    clock = FakeClock()
    services.use(services.Services(Settings.from_env(app_env), clock=clock, sleep=clock.sleep))
    rules_file.write_text(rules_file.read_text().replace('"verify_window": 1.5', '"verify_window": 30')
                          .replace('"verify_interval": 0.05', '"verify_interval": 2'))
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.fault("GET /health", server=f"health:{APP}/production", status=503, times=None)  # stays broken
    status, body = await app.post_alert(metric_alert(site.id))
    started = clock()

    outcome = await asyncio.wait_for(execute.run(app.services, body["incident_id"], run_id="one"), timeout=10)

    assert outcome.startswith("waiting"), outcome
    assert (clock() - started).total_seconds() <= 20  # the budget, on the services' clock
    incident = await app.incident(body["incident_id"])
    assert incident["status"] == "verifying" and incident["next_check_at"] is not None, details(incident)
    assert incident["steps"][0]["state"] == "waiting" and incident["steps"][0]["phase"] == "verify"
    assert "waiting" in outcomes(incident)[-1]
