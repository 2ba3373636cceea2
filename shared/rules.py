"""The rules file and `decide`: which events get which Plan. Pure: no I/O beyond reading the file once.

rules.yaml, in short:

    version: 1
    defaults: {cooldown: 30m}
    rules:
      - name: backend-5xx-swap-back
        match: {alert_rule: ["*5xx*"], severity: [Sev0, Sev1, Sev2], signal_type: [Metric]}
        component: backend
        environment: production
        steps:
          - kind: swap_back
            target: "{alert.target}"          # or a literal resource id
            params: {slot: staging}
            guards: {cooldown: 30m, dry_run: false, requires_approval: false}

The first rule that matches wins. Errors name the rule and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.durations import format_duration, parse_duration
from shared.errors import ConfigurationError
from shared.events import Condition, Event, Severity
from shared.plan import Decision, Guards, Plan, PlannedStep, StepKind, cooldown_key, short_target

ALERT_TARGET = "{alert.target}"


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Match(BaseModel):
    """Every field given must match; a list matches if any entry does. Globs are case-insensitive."""

    model_config = ConfigDict(extra="forbid")

    alert_rule: list[str] | None = Field(default=None, description="Alert rule names, exact or glob (`*5xx*`).")
    severity: list[Severity] | None = None
    signal_type: list[str] | None = Field(default=None, description="Metric, Log, Activity Log...")
    monitoring_service: list[str] | None = Field(default=None, description="Platform, Application Insights...")
    target_resource: list[str] | None = Field(default=None, description="Resource ids, exact or glob.")
    monitor_condition: Condition = Condition.FIRED

    _lists = field_validator("alert_rule", "severity", "signal_type", "monitoring_service", "target_resource",
                             mode="before")(_as_list)

    def matches(self, event: Event) -> bool:
        return (
            _any_glob(self.alert_rule, [event.rule_name])
            and (self.severity is None or event.severity in self.severity)
            and _any_glob(self.signal_type, [event.signal_type or ""])
            and _any_glob(self.monitoring_service, [event.monitoring_service or ""])
            and _any_glob(self.target_resource, list(event.target_ids))
            and event.condition == self.monitor_condition
        )


def _any_glob(patterns: list[str] | None, values: list[str]) -> bool:
    if patterns is None:
        return True
    return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns for value in values)


class GuardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldown: timedelta | None = None
    dry_run: bool = False
    requires_approval: bool | None = Field(
        default=None, description="Unset: required for destructive steps only. false: this rule allows it."
    )

    @field_validator("cooldown", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    target: str = ALERT_TARGET
    params: dict[str, Any] = Field(default_factory=dict)
    guards: GuardSpec = Field(default_factory=GuardSpec)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    match: Match
    component: str = Field(min_length=1, description="backend, frontend, database, cache...")
    environment: str = "production"
    steps: list[StepSpec] = Field(min_length=1)


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldown: timedelta = timedelta(minutes=30)

    @field_validator("cooldown", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice; names must be unique")
            seen.add(rule.name)
        return self


class RulesError(ConfigurationError):
    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def load_rules(text: str, kinds: Mapping[str, StepKind], source: str = "rules") -> RuleSet:
    """Parse and validate a rules document (YAML or JSON). Raises RulesError naming each rule and field."""
    import yaml

    try:
        document = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        raise RulesError(source, [f"not valid YAML: {error}"]) from None
    if not isinstance(document, dict):
        raise RulesError(source, ["the document must be a mapping with a 'rules' list"])
    try:
        ruleset = RuleSet.model_validate(document)
    except ValidationError as error:
        raise RulesError(source, [_describe(item, document) for item in error.errors()]) from None
    problems = [
        problem
        for index, rule in enumerate(ruleset.rules)
        for step_index, step in enumerate(rule.steps)
        for problem in _check_step(step, kinds, f"rule {rule.name!r} (rules[{index}]) steps[{step_index}]")
    ]
    if problems:
        raise RulesError(source, problems)
    return ruleset


def load_rules_file(path: str | Path, kinds: Mapping[str, StepKind]) -> RuleSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(str(path), [f"cannot read the rules file: {error.strerror}"]) from None
    return load_rules(text, kinds, source=str(path))


def _describe(item: dict[str, Any], document: dict[str, Any]) -> str:
    loc = list(item["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = document.get("rules") or []
        name = rules[loc[1]].get("name") if loc[1] < len(rules) and isinstance(rules[loc[1]], dict) else None
        where = f"rule {name!r} (rules[{loc[1]}])" if name else f"rules[{loc[1]}]"
        loc = loc[2:]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    message = "required" if item["type"] == "missing" else item["msg"]
    if item["type"] == "extra_forbidden":
        message = "unknown field"
    return " ".join(part for part in (where, f"{field}:" if field else "", message) if part)


def _check_step(step: StepSpec, kinds: Mapping[str, StepKind], where: str) -> list[str]:
    kind = kinds.get(step.kind)
    if kind is None:
        return [f"{where}.kind: unknown step kind {step.kind!r} (known: {', '.join(sorted(kinds))})"]
    try:
        kind.params.model_validate(step.params)
    except ValidationError as error:
        return [
            f"{where}.params.{'.'.join(map(str, item['loc']))}: "
            f"{'required' if item['type'] == 'missing' else item['msg']}"
            for item in error.errors()
        ]
    if step.target != ALERT_TARGET and kind.target_type and f"/providers/{kind.target_type.lower()}/" not in (
        step.target.lower()
    ):
        return [f"{where}.target: {step.kind} needs a {kind.target_type} resource id, got {step.target!r}"]
    return []


@dataclass(frozen=True)
class Cooldown:
    """An active cooldown, as read from the store: `key` is plan.cooldown_key(kind, target)."""

    key: str
    until: datetime
    incident_id: str


def decide(event: Event, ruleset: RuleSet, kinds: Mapping[str, StepKind],
           cooldowns: Mapping[str, Cooldown], now: datetime) -> Plan:
    """The Plan for one event. Same inputs, same Plan: no clock, no I/O."""
    return apply_cooldowns(match(event, ruleset, kinds), cooldowns, now)


def match(event: Event, ruleset: RuleSet, kinds: Mapping[str, StepKind]) -> Plan:
    """The Plan the first matching rule makes, before cooldowns are considered (see apply_cooldowns)."""
    if event.condition is Condition.RESOLVED:
        return Plan(decision=Decision.RECORD_RESOLUTION,
                    reason="a Resolved alert never triggers an action; it is recorded on the incident it resolves")
    rule = next((rule for rule in ruleset.rules if rule.match.matches(event)), None)
    if rule is None:
        return Plan(decision=Decision.SUPPRESS, reason=f"no rule matches alert {event.rule_name!r} "
                    f"({event.severity or 'no severity'}, {event.signal_type or 'no signal type'})")
    steps: list[PlannedStep] = []
    for spec in rule.steps:
        kind = kinds[spec.kind]
        target = _resolve_target(spec.target, event, kind)
        if target is None:
            wanted = f"a {kind.target_type} target" if kind.target_type else "a target resource"
            return Plan(decision=Decision.ESCALATE, rule=rule.name, component=rule.component,
                        environment=rule.environment,
                        reason=f"rule {rule.name!r} acts on the alert's target, but the alert names {wanted} "
                               f"nowhere (targets: {', '.join(event.target_ids) or 'none'})")
        steps.append(planned_step(kind, target, spec.params, spec.guards, ruleset.defaults.cooldown))
    return guarded_plan(rule.name, rule.component, rule.environment, steps,
                        reason=f"rule {rule.name!r} matched alert {event.rule_name!r}")


def cooldown_keys(plan: Plan) -> list[str]:
    """The cooldowns `apply_cooldowns` needs to know about for this plan."""
    return [step.cooldown_key for step in plan.steps if step.guards.cooldown and not step.guards.dry_run]


def apply_cooldowns(plan: Plan, cooldowns: Mapping[str, Cooldown], now: datetime) -> Plan:
    """Suppress a plan one of whose steps is in an active cooldown (held by another incident)."""
    if plan.decision not in (Decision.RUN, Decision.AWAIT_APPROVAL):
        return plan
    for step in plan.steps:
        held = cooldowns.get(step.cooldown_key)
        if step.cooldown_key in cooldown_keys(plan) and held and held.until > now:
            return plan.model_copy(update={
                "decision": Decision.SUPPRESS,
                "reason": f"{step.kind} on {short_target(step.target)} is in cooldown until "
                          f"{held.until:%Y-%m-%dT%H:%M:%SZ} (after incident {held.incident_id}); "
                          f"{format_duration(step.guards.cooldown)} cooldown per target"})
    return plan


def planned_step(kind: StepKind, target: str, params: dict[str, Any], guards: GuardSpec,
                 default_cooldown: timedelta) -> PlannedStep:
    """Apply defaults: the default cooldown, and approval for destructive steps unless explicitly waived."""
    validated = kind.params.model_validate(params)
    destructive = kind.is_destructive(validated)
    requires_approval = destructive if guards.requires_approval is None else guards.requires_approval
    cooldown = default_cooldown if guards.cooldown is None else guards.cooldown
    return PlannedStep(
        kind=kind.name, target=target, params=validated.model_dump(mode="json", exclude_unset=True),
        guards=Guards(cooldown=cooldown or None, dry_run=guards.dry_run, requires_approval=requires_approval),
        expected_seconds=kind.expected_seconds, destructive=destructive,
    )


def guarded_plan(rule: str | None, component: str, environment: str, steps: list[PlannedStep],
                 reason: str) -> Plan:
    """A plan to run, or to wait for approval if any of its steps requires it."""
    base = dict(rule=rule, component=component, environment=environment, steps=tuple(steps))
    if any(step.guards.requires_approval for step in steps):
        waiting = ", ".join(step.kind for step in steps if step.guards.requires_approval)
        return Plan(decision=Decision.AWAIT_APPROVAL, **base, reason=f"{reason}; {waiting} requires approval")
    return Plan(decision=Decision.RUN, **base, reason=reason)


def _resolve_target(target: str, event: Event, kind: StepKind) -> str | None:
    if target != ALERT_TARGET:
        return target
    for candidate in event.target_ids:
        if not kind.target_type or f"/providers/{kind.target_type.lower()}/" in candidate.lower():
            return candidate
    return None
