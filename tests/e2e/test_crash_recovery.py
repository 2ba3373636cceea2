"""An instance that dies mid-swap: the retry asks the live system before acting and never swaps twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.alerts import metric_alert

APP = "augeo-production-api"
ROOT = Path(__file__).resolve().parents[2]


def timeline(incident: dict) -> list[tuple[str, str, str]]:
    return [(entry["step"], entry["outcome"], entry["detail"]) for entry in incident["timeline"]]


@pytest.fixture
def short_lease(monkeypatch, app_env):
    monkeypatch.setenv("RESPONDER_LEASE_DURATION", "1s")
    app_env["RESPONDER_LEASE_DURATION"] = "1s"


async def _run_in_doomed_instance(app_env, incident_id, emulator, until) -> None:
    """Start the executor in a subprocess and SIGKILL it once `until()` is true (or fail after 20 s)."""
    process = subprocess.Popen([sys.executable, "-m", "tests.support.run_once", incident_id], cwd=ROOT,
                               env={**os.environ, **app_env})
    deadline = time.monotonic() + 20
    try:
        while not until():
            assert process.poll() is None, f"the executor exited ({process.returncode}) before the crash point"
            assert time.monotonic() < deadline, "the crash point was never reached"
            await asyncio.sleep(0.02)
    finally:
        process.kill()
        process.wait()


async def test_crash_after_swap_request_does_not_swap_again(app, app_env, emulator, short_lease):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.fault(r"POST .*/slotsswap$", hang_after=60)  # Azure swaps; the instance never hears back
    status, body = await app.post_alert(metric_alert(site.id))
    incident_id = body["incident_id"]

    await _run_in_doomed_instance(app_env, incident_id, emulator,
                                  until=lambda: emulator.release(APP) == "v1.2.2")
    assert len(emulator.swaps()) == 1
    await asyncio.sleep(1.2)  # the dead instance's lease on the app expires
    await app.drain()  # the host redelivers the run message

    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", timeline(incident)
    assert len(emulator.swaps()) == 1
    executed = [e["detail"] for e in incident["timeline"] if e["outcome"] == "executed"]
    assert executed and "not swapping again" in executed[-1]
    assert emulator.release(APP) == "v1.2.2"


async def test_crash_while_swap_is_in_flight_waits_for_it_instead_of_swapping_again(app, app_env, emulator,
                                                                                    short_lease):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_seconds = 2.5  # the redelivery (1.1 s after the crash) comes while Azure swaps
    emulator.fault(r"POST .*/slotsswap$", hang_after=60)
    status, body = await app.post_alert(metric_alert(site.id))
    incident_id = body["incident_id"]

    await _run_in_doomed_instance(app_env, incident_id, emulator, until=lambda: len(emulator.swaps()) == 1)
    await asyncio.sleep(1.1)
    await app.drain()  # redelivered while Azure is still swapping: the step waits for that swap, not repeated

    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", timeline(incident)
    assert len(emulator.swaps()) == 1
    assert any("did not record the answer" in e["detail"] for e in incident["timeline"]), timeline(incident)
    executed = [e["detail"] for e in incident["timeline"] if e["outcome"] == "executed"]
    assert executed and "not swapping again" in executed[-1]


async def test_two_runs_of_one_incident_at_once_swap_once(app, emulator):
    from shared.run import execute

    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    status, body = await app.post_alert(metric_alert(site.id))
    incident_id = body["incident_id"]

    outcomes = await asyncio.gather(*(execute.run(app.services, incident_id, run_id=f"instance-{n}")
                                      for n in range(3)))  # three instances got the message at once
    await app.drain()
    for _ in range(20):  # a run that found the target taken checks back after the lease
        incident = await app.incident(incident_id)
        if incident["status"] == "resolved":
            break
        await asyncio.sleep(0.5)
        await app.drain()
    assert incident["status"] == "resolved", (outcomes, timeline(incident))
    assert len(emulator.swaps()) == 1


async def test_the_lease_outlives_a_slow_swap_so_a_restart_waits_for_it(app, app_env, emulator, monkeypatch,
                                                                        issuer):
    from shared import services
    from shared.run import execute

    monkeypatch.setenv("RESPONDER_LEASE_DURATION", "1s")
    services.forget()
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    emulator.web.scenario.swap_seconds = 3  # three times the lease: only heartbeats keep it
    status, swap = await app.post_alert(metric_alert(site.id))
    swapping = asyncio.ensure_future(execute.run(app.services, swap["incident_id"], run_id="instance-a"))
    while not emulator.swaps():
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # longer than the lease: without heartbeats it would have expired by now

    status, restart = await app.call(
        "request_action", "POST", "/api/actions",
        {"action": "restart", "target": site.id, "reason": "clear in-memory state", "params": {}},
        headers=issuer.headers("Responder.Operator"))
    assert status == 202, restart
    await execute.run(app.services, restart["incident_id"], run_id="instance-b")

    restart_incident = await app.incident(restart["incident_id"])
    assert site.slots["production"].restarts == 0, timeline(restart_incident)  # it waited for the target
    waiting = [e["detail"] for e in restart_incident["timeline"] if e["outcome"] == "delayed"]
    assert waiting and swap["incident_id"] in waiting[0]
    assert await swapping == "resolved"
