"""The rules file and `match`: which events get which Plan. Pure: no I/O beyond reading the file once.

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
    targets:                                  # trusted per-resource settings, e.g. how to reach a cache
      - resource: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Cache/Redis/<name>
        params: {flush_cache: {port: 6380, secret_name: redis-access-key}}

The first rule that matches wins. Errors name the rule and the field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.decide.durations import parse_duration
from shared.errors import ConfigurationError, RulesError
from shared.decide.events import Condition, Event, Severity
from shared.decide.plan import Decision, Guards, Plan, PlannedStep, StepKind

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
    approvers: int = Field(default=1, ge=1, le=3, description="Different approvers each approval needs.")

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


class TargetConfig(BaseModel):
    """Trusted, per-resource settings of a step kind (how to reach a cache, which secret holds its key...).
    They live here, reviewed with the rules, and not in API requests: an operator may say *what* to do to a
    target, never *where* its credentials go."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(min_length=1, description="The resource id, as rules and requests name it.")
    params: dict[str, dict[str, Any]] = Field(description="Step kind -> parameters for that kind on this resource.")


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    targets: list[TargetConfig] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    def target_params(self, kind: str, target: str) -> dict[str, Any]:
        """The trusted parameters the targets section gives `kind` on `target` (canonical id)."""
        for config in self.targets:
            if config.resource.strip().rstrip("/").lower() == target.lower():
                return dict(config.params.get(kind, {}))
        return {}

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice; names must be unique")
            seen.add(rule.name)
        return self


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
    problems += [problem for index, config in enumerate(ruleset.targets)
                 for problem in _check_target(config, kinds, f"targets[{index}]")]
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
    if step.target != ALERT_TARGET:
        try:
            canonical_target(kind, step.target)
        except ValueError as error:
            return [f"{where}.target: {error}"]
    return []


def _check_target(config: TargetConfig, kinds: Mapping[str, StepKind], where: str) -> list[str]:
    problems = []
    for name, params in config.params.items():
        kind = kinds.get(name)
        if kind is None:
            problems.append(f"{where}.params.{name}: unknown step kind (known: {', '.join(sorted(kinds))})")
            continue
        try:
            canonical_target(kind, config.resource)
        except ValueError as error:
            problems.append(f"{where}.resource: {error}")
        unknown = sorted(set(params) - set(kind.params.model_fields))
        if unknown:
            problems.append(f"{where}.params.{name}.{unknown[0]}: unknown field")
    return problems


def canonical_target(kind: StepKind, target: str) -> str:
    """The one spelling of a target that cooldowns and leases key on: no surrounding space or trailing slash,
    and, for a kind with a resource type, exactly a resource of that type (not a child such as a slot)."""
    text = target.strip().rstrip("/")
    if kind.target_type:
        pattern = (r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/" + re.escape(kind.target_type) + r"/[^/]+")
        if not re.fullmatch(pattern, text, re.IGNORECASE):
            raise ValueError(f"{kind.name} needs a {kind.target_type} resource id "
                             f"(/subscriptions/<sub>/resourceGroups/<rg>/providers/{kind.target_type}/<name>), "
                             f"got {target!r}")
    elif not text:
        raise ValueError(f"{kind.name} needs a target")
    return text


def match(event: Event, ruleset: RuleSet, kinds: Mapping[str, StepKind]) -> Plan:
    """The Plan for one event: the first matching rule's steps, with their guards. Pure: no clock, no I/O;
    cooldowns are claimed (and may suppress the plan) when the incident is accepted."""
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
        params = ruleset.target_params(kind.name, target) | spec.params
        steps.append(planned_step(kind, target, params, spec.guards, ruleset.defaults.cooldown))
    return guarded_plan(rule.name, rule.component, rule.environment, steps,
                        reason=f"rule {rule.name!r} matched alert {event.rule_name!r}")


def planned_step(kind: StepKind, target: str, params: dict[str, Any], guards: GuardSpec,
                 default_cooldown: timedelta) -> PlannedStep:
    """Apply defaults: the default cooldown, and approval for destructive steps unless explicitly waived."""
    target = canonical_target(kind, target)
    validated = kind.params.model_validate(params)
    destructive = kind.is_destructive(validated)
    requires_approval = destructive if guards.requires_approval is None else guards.requires_approval
    cooldown = default_cooldown if guards.cooldown is None else guards.cooldown
    return PlannedStep(
        kind=kind.name, target=target, params=validated.model_dump(mode="json", exclude_unset=True),
        guards=Guards(cooldown=cooldown or None, dry_run=guards.dry_run, requires_approval=requires_approval,
                      approvers=guards.approvers),
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
    """A literal target, or the first of the alert's targets that is a resource of the kind's type."""
    for candidate in (event.target_ids if target == ALERT_TARGET else (target,)):
        try:
            return canonical_target(kind, candidate)
        except ValueError:
            continue
    return None
