"""Adding a responder touches its module and one registry line, as the README says: a responder defined in this
test alone runs through the rules, the executor and the timeline, and the executor (not the responder) owns
what becomes of the change it describes: applied, rendered for a dry run, or skipped."""

from __future__ import annotations

import types

import pytest
from pydantic import BaseModel, ConfigDict

from local.alerts import metric_alert
from shared.decide.plan import StepKind
from shared.run.step import Change, NoChange, StepContext, registry

SITE_RULES = """
version: 1
rules:
  - name: note-it
    match: {{alert_rule: ["*5xx*"]}}
    component: backend
    steps:
      - kind: write_note
        target: "{{alert.target}}"
        params: {{text: "{text}"}}
        guards: {{dry_run: {dry_run}}}
"""


class NoteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


def note_responder(calls: list[str], already_there: bool = False) -> types.ModuleType:
    module = types.ModuleType("write_note")
    module.KIND = StepKind(name="write_note", params=NoteParams, expected_seconds=1, component="backend",
                           description="Write a note (a responder that exists only in this test).")

    async def precheck(ctx: StepContext[NoteParams]) -> str:
        calls.append("precheck")
        return f"a note {ctx.params.text!r} can be written"

    async def describe(ctx: StepContext[NoteParams]) -> Change | NoChange:
        calls.append("describe")
        return NoChange("the note is there already") if already_there else Change(f"write {ctx.params.text!r}")

    async def execute(ctx: StepContext[NoteParams]) -> str:
        calls.append("execute")
        return f"wrote {ctx.params.text!r}"

    async def verify(ctx: StepContext[NoteParams]) -> str:
        calls.append("verify")
        return "the note reads back"

    module.precheck, module.describe, module.execute, module.verify = precheck, describe, execute, verify
    return module


@pytest.fixture
def with_responder(app, app_env, rules_file):
    """The app's services with one more responder in the registry (and a rule that uses it)."""
    from responders import cache_flush, restart, swap_back
    from shared import services
    from shared.config import Settings

    def install(module: types.ModuleType, *, dry_run: bool = False) -> None:
        rules_file.write_text(SITE_RULES.format(text="deployed v1.2.3", dry_run=str(dry_run).lower()))
        services.use(services.Services(Settings.from_env(app_env),
                                       responders=registry(swap_back, cache_flush, restart, module)))

    return install


async def _run(app, emulator) -> dict:
    site = emulator.add_app("augeo-production-api", production="v1.2.3", staging="v1.2.2")
    status, body = await app.post_alert(metric_alert(site.id))
    assert status == 202, body
    await app.drain()
    return await app.incident(body["incident_id"])


def _outcomes(incident: dict) -> list[str]:
    return [f"{e['step']} {e['outcome']}" for e in incident["timeline"]]


async def test_a_responder_defined_here_runs_through_rules_executor_and_timeline(app, emulator, with_responder):
    calls: list[str] = []
    with_responder(note_responder(calls))

    incident = await _run(app, emulator)

    assert incident["status"] == "resolved", incident["timeline"]
    assert calls == ["precheck", "describe", "execute", "verify"]
    assert _outcomes(incident) == ["intake accepted", "executor started", "write_note[0] started",
                                   "write_note[0] precheck ok", "write_note[0] executed", "write_note[0] verified",
                                   "executor resolved"]
    assert incident["plan"]["steps"][0]["kind"] == "write_note"


async def test_a_dry_run_is_rendered_by_the_executor_and_never_executes(app, emulator, with_responder):
    calls: list[str] = []
    with_responder(note_responder(calls), dry_run=True)

    incident = await _run(app, emulator)

    assert incident["status"] == "resolved" and "dry run" in incident["status_reason"]
    assert calls == ["precheck", "describe"]
    detail = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "dry run")
    assert detail == "dry run: would write 'deployed v1.2.3'; nothing changed"
    assert incident["steps"][0]["state"] == "skipped"


async def test_nothing_to_change_is_recorded_as_skipped_and_still_verified(app, emulator, with_responder):
    calls: list[str] = []
    with_responder(note_responder(calls, already_there=True))

    incident = await _run(app, emulator)

    assert incident["status"] == "resolved"
    assert calls == ["precheck", "describe", "verify"]  # never executed
    skipped = next(e["detail"] for e in incident["timeline"] if e["outcome"] == "skipped")
    assert skipped == "nothing to change: the note is there already"


def test_two_responders_with_one_id_are_refused_when_the_registry_is_built():
    with pytest.raises(ValueError, match="responder id 'write_note' is used twice"):
        registry(note_responder([]), note_responder([]))
