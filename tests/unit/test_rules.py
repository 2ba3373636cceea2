"""Rules: loading with errors that name the rule and field, matching, and `decide`. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from responders import KINDS
from shared.events import Condition, Event, Severity
from shared.plan import Decision, cooldown_key
from shared.rules import Cooldown, RulesError, decide, load_rules

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
SITE = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/augeo-production-api"
INSIGHTS = "/subscriptions/sub/resourceGroups/rg/providers/microsoft.insights/components/augeo-ai"

RULES = """
version: 1
defaults: {cooldown: 30m}
rules:
  - name: backend-5xx-swap-back
    match:
      alert_rule: ["*5xx*"]
      severity: [Sev0, Sev1, Sev2]
      signal_type: Metric
    component: backend
    steps:
      - kind: swap_back
        params: {slot: staging}
  - name: app-insights-failures
    match: {alert_rule: "Failed requests", monitoring_service: ["Application Insights", "Log Alerts V2"]}
    component: backend
    environment: production
    steps:
      - kind: swap_back
        target: %s
        guards: {dry_run: true, cooldown: 0}
  - name: approval-needed
    match: {alert_rule: "risky*", target_resource: "*/sites/augeo-*"}
    component: backend
    steps:
      - kind: swap_back
        guards: {requires_approval: true}
""" % SITE


def event(rule="Http 5xx above threshold", severity=Severity.SEV1, signal="Metric", service="Platform",
          targets=(SITE,), condition=Condition.FIRED) -> Event:
    return Event(source="alert", schema_name="common/Platform", rule_name=rule, alert_id="a1", severity=severity,
                 signal_type=signal, monitoring_service=service, condition=condition, target_ids=targets,
                 fired_at=NOW)


@pytest.fixture
def ruleset():
    return load_rules(RULES, KINDS)


def test_first_matching_rule_gives_a_run_plan_on_the_alert_target(ruleset):
    plan = decide(event(), ruleset, KINDS, {}, NOW)
    assert plan.decision is Decision.RUN and plan.rule == "backend-5xx-swap-back"
    assert [(s.kind, s.target) for s in plan.steps] == [("swap_back", SITE)]
    assert plan.steps[0].guards.cooldown == timedelta(minutes=30)
    assert plan.steps[0].expected_seconds == 30  # the runbook's 30 seconds for a slot swap
    assert plan.component == "backend" and plan.environment == "production"


@pytest.mark.parametrize("changed", [
    dict(severity=Severity.SEV3), dict(signal="Log"), dict(rule="CPU above 90%"), dict(severity=None),
])
def test_events_outside_every_rule_are_suppressed_with_the_reason(ruleset, changed):
    plan = decide(event(**changed), ruleset, KINDS, {}, NOW)
    assert plan.decision is Decision.SUPPRESS and not plan.steps
    assert "no rule matches" in plan.reason


def test_glob_and_exact_matches_are_case_insensitive(ruleset):
    assert decide(event(rule="HTTP 5XX RATE"), ruleset, KINDS, {}, NOW).rule == "backend-5xx-swap-back"
    assert decide(event(rule="failed requests", service="Application Insights", targets=(INSIGHTS,)),
                  ruleset, KINDS, {}, NOW).rule == "app-insights-failures"


def test_a_literal_target_is_used_when_the_alert_fires_on_application_insights(ruleset):
    plan = decide(event(rule="Failed requests", service="Log Alerts V2", targets=(INSIGHTS,)), ruleset, KINDS, {}, NOW)
    assert plan.steps[0].target == SITE
    assert plan.dry_run and plan.steps[0].guards.cooldown is None


def test_resolved_alerts_never_trigger_an_action(ruleset):
    plan = decide(event(condition=Condition.RESOLVED), ruleset, KINDS, {}, NOW)
    assert plan.decision is Decision.RECORD_RESOLUTION and plan.steps == ()


def test_an_active_cooldown_on_the_target_suppresses_the_plan(ruleset):
    key = cooldown_key("swap_back", SITE.upper())  # ARM ids are case-insensitive
    held = {cooldown_key("swap_back", SITE): Cooldown(key, NOW + timedelta(minutes=5), "inc-earlier")}
    plan = decide(event(), ruleset, KINDS, held, NOW)
    assert plan.decision is Decision.SUPPRESS
    assert "in cooldown until 2026-11-25T03:05:00Z (after incident inc-earlier)" in plan.reason


def test_an_expired_cooldown_does_not_suppress(ruleset):
    held = {cooldown_key("swap_back", SITE): Cooldown("k", NOW - timedelta(seconds=1), "inc-earlier")}
    assert decide(event(), ruleset, KINDS, held, NOW).decision is Decision.RUN


def test_a_dry_run_is_not_suppressed_by_a_cooldown(ruleset):
    held = {cooldown_key("swap_back", SITE): Cooldown("k", NOW + timedelta(minutes=5), "inc-earlier")}
    plan = decide(event(rule="Failed requests", service="Application Insights", targets=(INSIGHTS,)), ruleset,
                  KINDS, held, NOW)
    assert plan.decision is Decision.RUN


def test_requires_approval_makes_the_plan_wait(ruleset):
    plan = decide(event(rule="risky release"), ruleset, KINDS, {}, NOW)
    assert plan.decision is Decision.AWAIT_APPROVAL and "requires approval" in plan.reason


def test_an_alert_without_a_usable_target_escalates(ruleset):
    plan = decide(event(targets=(INSIGHTS,)), ruleset, KINDS, {}, NOW)
    assert plan.decision is Decision.ESCALATE
    assert "a Microsoft.Web/sites target" in plan.reason


def test_the_same_inputs_give_the_same_plan(ruleset):
    assert decide(event(), ruleset, KINDS, {}, NOW) == decide(event(), ruleset, KINDS, {}, NOW)


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  - name: r1\n    match: {}\n    component: backend\n    steps: [{kind: swapback}]",
     "rule 'r1' (rules[0]) steps[0].kind: unknown step kind 'swapback' (known: flush_cache, restart, swap_back)"),
    ("rules:\n  - name: r1\n    match: {severity: [Sev9]}\n    component: backend\n    steps: [{kind: swap_back}]",
     "rule 'r1' (rules[0]) match.severity[0]:"),
    ("rules:\n  - name: r1\n    match: {}\n    steps: [{kind: swap_back}]", "rule 'r1' (rules[0]) component: required"),
    ("rules:\n  - name: r1\n    match: {colour: red}\n    component: b\n    steps: [{kind: swap_back}]",
     "rule 'r1' (rules[0]) match.colour: unknown field"),
    ("rules:\n  - name: r1\n    match: {}\n    component: b\n    steps: [{kind: swap_back, params: {slott: x}}]",
     "rule 'r1' (rules[0]) steps[0].params.slott: Extra inputs are not permitted"),
    ("rules:\n  - name: r1\n    match: {}\n    component: b\n    steps: [{kind: swap_back, guards: {cooldown: soon}}]",
     "steps[0].guards.cooldown"),
    ("rules:\n  - name: r1\n    match: {}\n    component: b\n    steps: [{kind: swap_back, target: /subscriptions/x}]",
     "steps[0].target: swap_back needs a Microsoft.Web/sites resource id"),
    ("rules:\n  - name: r1\n    match: {}\n    component: b\n    steps: []", "rule 'r1' (rules[0]) steps:"),
    ("rules: [", "not valid YAML"),
    ("- just a list", "must be a mapping"),
    ("version: 2\nrules: []", "version:"),
    ("rules:\n  - {name: a, match: {}, component: b, steps: [{kind: swap_back}]}\n"
     "  - {name: a, match: {}, component: b, steps: [{kind: swap_back}]}", "rule name 'a' is used twice"),
])
def test_invalid_rules_are_refused_naming_the_rule_and_field(text, message):
    with pytest.raises(RulesError) as caught:
        load_rules(text, KINDS, source="rules.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("rules.yaml: ")


def test_the_shipped_rules_file_is_valid():
    from pathlib import Path

    ruleset = load_rules((Path(__file__).resolve().parents[2] / "rules.yaml").read_text(), KINDS)
    assert [rule.name for rule in ruleset.rules] == ["backend-5xx-swap-back"]
