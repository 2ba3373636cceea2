"""What the executor gives every responder, proven with responders defined here alone (real Azurite, the real
queue and the app's own triggers): approval gates in the middle of a plan (a second approver, the requester
refused, expiry), later steps recorded as not run after a failed one, a step that shows the incident as
watching and holds no lease, and lifecycle moments announced once each, even when the announcement is lost or
a subscriber fails."""

from __future__ import annotations

import types
from datetime import timedelta

import pytest
from pydantic import BaseModel, ConfigDict

from local.alerts import metric_alert
from shared.decide.plan import StepKind
from shared.errors import Escalate, Waiting
from shared.run.step import Change, StepContext, registry
from tests.support.identity import object_id

APPROVER = "Responder.Approver"

RULES = """
version: 1
rules:
  - name: mechanics
    match: {{alert_rule: ["*5xx*"]}}
    component: backend
    steps:
{steps}
"""


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _step(kind: str) -> str:
    return f"      - kind: {kind}\n        target: \"{{alert.target}}\"\n        guards: {{cooldown: 0s}}\n"


def responder(name: str, calls: list[str], *, execute=None, verify=None, precheck=None, **kind) -> types.ModuleType:
    module = types.ModuleType(name)
    module.KIND = StepKind(name=name, params=NoParams, expected_seconds=5, component="backend",
                           description="a responder of this test", **kind)

    async def _precheck(ctx: StepContext[NoParams]) -> str:
        calls.append(f"{name}.precheck")
        return await precheck(ctx) if precheck else "ok"

    async def _describe(ctx: StepContext[NoParams]) -> Change:
        return Change(f"do {name}")

    async def _execute(ctx: StepContext[NoParams]) -> str:
        calls.append(f"{name}.execute")
        return await execute(ctx) if execute else "done"

    async def _verify(ctx: StepContext[NoParams]) -> str:
        calls.append(f"{name}.verify")
        return await verify(ctx) if verify else "verified"

    module.precheck, module.describe, module.execute, module.verify = _precheck, _describe, _execute, _verify
    return module


@pytest.fixture
def install(app, app_env, rules_file):
    from responders import cache_flush, restart, swap_back
    from shared import services
    from shared.config import Settings

    def install(*modules: types.ModuleType, subscribers: tuple = (), **settings: str) -> None:
        rules_file.write_text(RULES.format(steps="".join(_step(m.KIND.name) for m in modules)))
        services.use(services.Services(Settings.from_env(app_env | settings),
                                       responders=registry(swap_back, cache_flush, restart, *modules),
                                       subscribers=subscribers))

    return install


async def _alert(app, emulator) -> str:
    site = emulator.add_app("augeo-production-api", production="v1.2.3", staging="v1.2.2")
    status, body = await app.post_alert(metric_alert(site.id))
    assert status == 202, body
    await app.drain()
    return body["incident_id"]


async def _approve(app, issuer, incident_id: str, name: str) -> tuple[int, dict]:
    return await app.call("approve_incident", "POST", f"/api/incidents/{incident_id}/approve", {"comment": "ok"},
                          route_params={"incident_id": incident_id},
                          headers=issuer.headers(APPROVER, name=name, oid=object_id(name)))


def _outcomes(incident: dict) -> list[str]:
    return [f"{e['step']} {e['outcome']}" for e in incident["timeline"]]


async def test_a_plan_stops_twice_for_people_and_goes_on_from_where_it_stopped(app, emulator, issuer, install):
    calls: list[str] = []

    async def kickoff(ctx):
        ctx.require_approval("kickoff", "restore into server X; writes after 03:00 are lost")
        ctx.data["kicked_off"] = ctx.data.get("kicked_off", 0) + 1
        return "kicked off"

    async def switch_over(ctx):
        ctx.require_approval("switch-over", "point the app at server X", approvers=2)
        return f"switched (kickoffs: {ctx.data['kicked_off']})"

    install(responder("two_gates", calls, execute=kickoff, verify=switch_over))
    incident_id = await _alert(app, emulator)

    incident = await app.incident(incident_id)
    assert incident["status"] == "awaiting_approval" and incident["gate"] == "0:kickoff", incident["timeline"]
    assert "writes after 03:00 are lost" in incident["approval_request"]
    assert incident["steps"][0]["state"] == "waiting"

    status, _ = await _approve(app, issuer, incident_id, "alice@contoso.com")
    assert status == 200
    await app.drain()
    incident = await app.incident(incident_id)
    assert incident["status"] == "awaiting_approval" and incident["gate"] == "0:switch-over"
    assert incident["approvers_needed"] == 2 and incident["approved_at"] is None

    status, first = await _approve(app, issuer, incident_id, "alice@contoso.com")
    assert status == 200 and first["status"] == "awaiting_approval"
    status, again = await _approve(app, issuer, incident_id, "alice@contoso.com")
    assert status == 409 and again["error"] == "already_approved"
    await app.drain()
    assert (await app.incident(incident_id))["status"] == "awaiting_approval"  # one approver is not two

    status, _ = await _approve(app, issuer, incident_id, "bob@contoso.com")
    assert status == 200
    await app.drain()
    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", incident["timeline"]
    assert calls.count("two_gates.execute") == 2  # once stopped at its gate, once through it
    assert incident["steps"][0]["message"] == "switched (kickoffs: 1)"  # the kickoff itself ran once
    assert [a["gate"] for a in incident["approvals"]] == ["0:kickoff", "0:switch-over", "0:switch-over"]
    assert _outcomes(incident).count("two_gates[0] awaiting approval") == 2


async def test_the_requester_of_a_command_may_not_approve_a_destructive_gate(app, emulator, issuer, install):
    from shared import services
    from shared.decide.callers import Caller

    async def gated(ctx):
        ctx.require_approval("go", "destroy and recreate")
        return "done"

    install(responder("gated", [], execute=gated))
    incident_id = await _alert(app, emulator)
    alice = object_id("alice@contoso.com")
    tenant = services.current().settings.entra_tenant_id
    await app.services.store.update(incident_id, lambda i: i.model_copy(update={"requester_id": f"{tenant}/{alice}"}))
    status, body = await _approve(app, issuer, incident_id, "alice@contoso.com")
    assert status == 403 and body["error"] == "self_approval", body
    assert isinstance(Caller, type)


async def test_a_mid_plan_gate_left_unapproved_expires_and_says_what_stands(app, emulator, install, app_env):
    from shared.run import reconcile

    async def gated(ctx):
        ctx.require_approval("switch-over", "point the app at the restored server")
        return "done"

    install(responder("first", []), responder("gated", [], execute=gated), RESPONDER_APPROVAL_TTL="1m")
    incident_id = await _alert(app, emulator)
    services = app.services
    real = services.clock
    services.clock = lambda: real() + timedelta(minutes=5)
    summary = await reconcile.reconcile(services)
    services.clock = real
    assert incident_id in summary.expired
    incident = await app.incident(incident_id)
    assert incident["status"] == "cancelled"
    assert "the steps before it stand" in incident["status_reason"]
    assert incident["steps"][0]["state"] == "done"


async def test_steps_after_a_failed_one_are_recorded_as_not_run(app, emulator, install):
    calls: list[str] = []

    async def refuse(ctx):
        raise Escalate("staging is bad too")

    install(responder("backend", calls, precheck=refuse), responder("frontend", calls), responder("cache", calls))
    incident_id = await _alert(app, emulator)
    incident = await app.incident(incident_id)
    assert incident["status"] == "escalated"
    assert [s["state"] for s in incident["steps"]] == ["escalated", "not_run", "not_run"]
    assert calls == ["backend.precheck"]
    note = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "not run")
    assert note.startswith("backend escalated: frontend on") and "cache on" in note


async def test_a_watching_step_shows_the_incident_as_watching_and_holds_no_lease(app, emulator, install):
    seen: list[str] = []

    async def watch(ctx):
        incident = await ctx.services.store.get(ctx.incident.id)
        seen.append(str(incident.status))
        assert ctx.lease is None
        checks = ctx.data["checks"] = ctx.data.get("checks", 0) + 1
        if checks < 3:
            raise Waiting("watching error rates", delay=60, topic="watch")
        return "error rates stayed low"

    install(responder("fix", []), responder("watch", [], verify=watch, holds_target=False,
                                            incident_status="watching"))
    incident_id = await _alert(app, emulator)
    incident = await app.incident(incident_id)
    assert incident["status"] == "watching", incident["timeline"]
    for _ in range(2):
        services = app.services
        listed = next(s for s in await services.store.steps(incident_id) if s.kind == "watch")
        step = await services.store.step(incident_id, listed.index, listed.kind, listed.target)
        step.delayed_until = None  # its check-back is due now (the test does not wait the minute)
        await services.store.save_step(incident_id, step)
        await services.queue.send(incident_id, "test: check back now")
        await app.drain()
    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved", incident["timeline"]
    assert seen == ["watching", "watching", "watching"]
    leases = [row async for row in (await services._tables.table("guards")).list_entities()]
    assert not [row for row in leases if "watch" in str(row.get("incident_id", "")) and row.get("lease")]


class Recorder:
    name = "recorder"

    def __init__(self, wanted=("acting", "awaiting_approval", "resolved", "escalated"), fail_on=(), wait_once=()):
        self.calls: list[tuple[str, str]] = []
        self.wanted, self.fail_on, self.wait_once = wanted, set(fail_on), set(wait_once)

    def wants(self, services, moment: str) -> bool:
        return moment.split(":")[0] in self.wanted

    async def handle(self, services, incident, moment: str) -> None:
        self.calls.append((incident.id, moment))
        if moment in self.wait_once:
            self.wait_once.discard(moment)
            raise Waiting("the receiver said 429", delay=1)
        if moment in self.fail_on:
            raise RuntimeError("the receiver is broken")


async def test_each_moment_is_announced_once_and_a_failing_subscriber_harms_nothing(app, emulator, issuer, install):
    recorder, broken = Recorder(), Recorder(fail_on={"resolved"})
    broken.name = "broken"

    async def gated(ctx):
        ctx.require_approval("go", "go on")
        return "done"

    install(responder("gated", [], execute=gated), subscribers=(recorder, broken))
    incident_id = await _alert(app, emulator)
    await _approve(app, issuer, incident_id, "bob@contoso.com")
    await app.drain()
    incident = await app.incident(incident_id)
    assert incident["status"] == "resolved"
    assert [moment for _, moment in recorder.calls] == ["acting", "awaiting_approval:0:go", "resolved"]
    assert incident["moments"] == incident["announced"] == ["acting", "awaiting_approval:0:go", "resolved"]
    failed = [e for e in incident["timeline"] if e["step"] == "broken" and e["outcome"] == "failed"]
    assert len(failed) == 1 and "resolved: the receiver is broken" in failed[0]["detail"]
    assert not [row async for row in (await app.services._tables.table("open")).list_entities()]


async def test_a_subscriber_that_waits_is_called_again_and_a_lost_announcement_is_sent_by_the_reconciler(
        app, emulator, install):
    from shared.run import reconcile

    recorder = Recorder(wait_once={"resolved"})
    install(responder("plain", []), subscribers=(recorder,))
    services = app.services

    async def lost(incident_id: str) -> None:
        raise RuntimeError("queue unreachable")

    services.store.on_moment = lost  # every announcement request is lost
    incident_id = await _alert(app, emulator)
    assert recorder.calls == []
    assert (await app.incident(incident_id))["status"] == "resolved"
    assert [row["RowKey"] async for row in (await services._tables.table("open")).list_entities()]  # the outbox

    real = services.clock
    services.clock = lambda: real() + timedelta(minutes=5)
    summary = await reconcile.reconcile(services)
    services.clock = real
    assert incident_id in summary.announced
    await app.drain()  # acting and resolved; resolved asks to be called again in 1 s
    incident = await app.incident(incident_id)
    assert incident["announced"] == ["acting"]
    services.clock = lambda: real() + timedelta(minutes=10)
    await reconcile.reconcile(services)
    services.clock = real
    await app.drain()
    incident = await app.incident(incident_id)
    assert incident["announced"] == ["acting", "resolved"]
    assert [m for _, m in recorder.calls] == ["acting", "resolved", "resolved"]
    assert not [row async for row in (await services._tables.table("open")).list_entities()]
