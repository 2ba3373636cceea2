"""Rules: loading with errors that name the rule and field, matching, and `match`. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone  

import pytest

from responders import KINDS
from shared.decide.events import Condition, Event, Severity
from shared.decide.plan import Decision
from shared.decide.rules import canonical_target, load_rules, match
from shared.errors import RulesError

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
    plan = match(event(), ruleset, KINDS)
    assert plan.decision is Decision.RUN and plan.rule == "backend-5xx-swap-back"
    assert [(s.kind, s.target) for s in plan.steps] == [("swap_back", SITE)]
    assert plan.steps[0].guards.cooldown == timedelta(minutes=30)
    assert plan.steps[0].expected_seconds == 30  # the runbook's 30 seconds for a slot swap
    assert plan.component == "backend" and plan.environment == "production"


@pytest.mark.parametrize("changed", [
    dict(severity=Severity.SEV3), dict(signal="Log"), dict(rule="CPU above 90%"), dict(severity=None),
])
def test_events_outside_every_rule_are_suppressed_with_the_reason(ruleset, changed):
    plan = match(event(**changed), ruleset, KINDS)
    assert plan.decision is Decision.SUPPRESS and not plan.steps
    assert "no rule matches" in plan.reason


def test_glob_and_exact_matches_are_case_insensitive(ruleset):
    assert match(event(rule="HTTP 5XX RATE"), ruleset, KINDS).rule == "backend-5xx-swap-back"
    assert match(event(rule="failed requests", service="Application Insights", targets=(INSIGHTS,)), ruleset, KINDS).rule == "app-insights-failures"


def test_a_literal_target_is_used_when_the_alert_fires_on_application_insights(ruleset):
    plan = match(event(rule="Failed requests", service="Log Alerts V2", targets=(INSIGHTS,)), ruleset, KINDS)
    assert plan.steps[0].target == SITE
    assert plan.dry_run and plan.steps[0].guards.cooldown is None


def test_resolved_alerts_never_trigger_an_action(ruleset):
    plan = match(event(condition=Condition.RESOLVED), ruleset, KINDS)
    assert plan.decision is Decision.RECORD_RESOLUTION and plan.steps == ()


def test_targets_are_canonical_so_cooldowns_and_leases_see_one_app(ruleset):
    spelled = event(targets=(SITE.upper() + "/",))
    step = match(spelled, ruleset, KINDS).steps[0]
    assert step.target == SITE.upper()
    assert step.cooldown_key == match(event(), ruleset, KINDS).steps[0].cooldown_key


def test_a_slot_is_not_an_app_service_target(ruleset):
    plan = match(event(targets=(SITE + "/slots/staging",)), ruleset, KINDS)
    assert plan.decision is Decision.ESCALATE
    with pytest.raises(ValueError, match="needs a Microsoft.Web/sites resource id"):
        canonical_target(KINDS["swap_back"], SITE + "/slots/staging")


def test_requires_approval_makes_the_plan_wait(ruleset):
    plan = match(event(rule="risky release"), ruleset, KINDS)
    assert plan.decision is Decision.AWAIT_APPROVAL and "requires approval" in plan.reason


def test_an_alert_without_a_usable_target_escalates(ruleset):
    plan = match(event(targets=(INSIGHTS,)), ruleset, KINDS)
    assert plan.decision is Decision.ESCALATE
    assert "a Microsoft.Web/sites target" in plan.reason


def test_the_same_inputs_give_the_same_plan(ruleset):
    assert match(event(), ruleset, KINDS) == match(event(), ruleset, KINDS)


def test_trusted_target_settings_fill_in_what_the_rule_leaves_out():
    cache = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Cache/Redis/sessions"
    text = f"""
targets:
  - resource: {cache.upper()}/
    params: {{flush_cache: {{host: 10.0.0.5, port: 6379, tls: false}}}}
rules:
  - name: sessions
    match: {{alert_rule: "*session*"}}
    component: cache
    steps: [{{kind: flush_cache, target: {cache}, params: {{patterns: ["session:*"], port: 6390}}}}]
"""
    step = match(event(rule="session errors"), load_rules(text, KINDS), KINDS).steps[0]
    assert step.params == {"host": "10.0.0.5", "port": 6390, "tls": False, "patterns": ["session:*"]}


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  - name: r1\n    match: {}\n    component: backend\n    steps: [{kind: swapback}]",
     f"rule 'r1' (rules[0]) steps[0].kind: unknown step kind 'swapback' (known: {', '.join(sorted(KINDS))})"),
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
    ("targets: [{resource: /subscriptions/s/resourceGroups/r/providers/Microsoft.Cache/Redis/c,"
     " params: {flush_cache: {hots: x}}}]", "targets[0].params.flush_cache.hots: unknown field"),
    ("targets: [{resource: /x, params: {flush_cache: {host: x}}}]", "targets[0].resource: flush_cache needs a"),
    ("targets: [{resource: /x, params: {teleport: {}}}]", "targets[0].params.teleport: unknown step kind"),
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
