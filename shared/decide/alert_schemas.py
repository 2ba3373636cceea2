"""Readers for every Azure Monitor webhook schema the responder accepts, each producing an Event.

Recognised by shape, in this order:
  * `schemaId: azureMonitorCommonAlertSchema`       Common Alert Schema, every monitoring service
  * `schemaId: AzureMonitorMetricAlert`              metric alerts, 2019 schema (`data.context`)
  * `schemaId: Microsoft.Insights/activityLogs`      activity log alerts, non-common schema
  * `schemaId: Microsoft.Insights/LogAlert`          Application Insights log search alerts (fields under `data`)
  * `status` + `context` at the top                  classic metric alerts, Application Insights classic alerts
  * `AlertRuleName` + `SearchQuery` at the top       log search alerts of Log Analytics / Application Insights
Anything else is a 422 that lists what was looked for. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.decide.events import Condition, Event, PayloadError, Severity

COMMON = "azureMonitorCommonAlertSchema"
METRIC_2019 = "AzureMonitorMetricAlert"
ACTIVITY_LOG = "Microsoft.Insights/activityLogs"
APP_INSIGHTS_LOG = "Microsoft.Insights/LogAlert"

# Older schemas name severity in words or digits; Common Alert Schema uses Sev0..Sev4.
_SEVERITY_WORDS = {
    "critical": Severity.SEV0, "error": Severity.SEV1, "warning": Severity.SEV2,
    "informational": Severity.SEV3, "verbose": Severity.SEV4,
}


def severity_of(value: Any) -> Severity | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lower().startswith("sev"):
        text = text[3:]
    if text.isdigit() and 0 <= int(text) <= 4:
        return Severity(f"Sev{int(text)}")
    return _SEVERITY_WORDS.get(text.lower())


def condition_of(value: str | None) -> Condition:
    """Fired/Activated -> Fired; Resolved/Deactivated -> Resolved."""
    text = (value or "").strip().lower()
    if text in {"resolved", "deactivated"}:
        return Condition.RESOLVED
    return Condition.FIRED


def timestamp(value: Any) -> datetime | None:
    """Azure's timestamps carry 7 fractional digits and sometimes no zone; read them as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        head, dot, rest = text.partition(".")
        if dot:
            digits = "".join(ch for ch in rest if ch.isdigit())
            zone = rest[len(digits):]
            text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
        moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Essentials(_Loose):
    alert_id: str = Field(alias="alertId", min_length=1)
    alert_rule: str | None = Field(alias="alertRule")  # null for cost budget alerts
    alert_rule_id: str | None = Field(default=None, validation_alias=AliasChoices("alertRuleID", "alertRuleId"))
    severity: str | None  # likewise
    signal_type: str | None = Field(default=None, alias="signalType")
    monitor_condition: str = Field(alias="monitorCondition")
    monitoring_service: str | None = Field(default=None, alias="monitoringService")
    alert_target_ids: list[str] | None = Field(default=None, alias="alertTargetIDs")
    configuration_items: list[str] | None = Field(default=None, alias="configurationItems")
    fired: str = Field(alias="firedDateTime", min_length=1)
    resolved: str | None = Field(default=None, alias="resolvedDateTime")
    description: str | None = None

    @field_validator("monitor_condition")
    @classmethod
    def _known_condition(cls, value: str) -> str:
        if value not in ("Fired", "Resolved"):
            raise ValueError("must be Fired or Resolved")
        return value

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str | None) -> str | None:
        if value is not None and severity_of(value) is None:
            raise ValueError("must be one of Sev0, Sev1, Sev2, Sev3, Sev4")
        return value


class _CommonData(_Loose):
    essentials: _Essentials
    alert_context: dict[str, Any] | None = Field(default=None, alias="alertContext")


class _Common(_Loose):
    schema_id: str = Field(alias="schemaId")
    data: _CommonData


def _signal_type(value: str | None) -> str | None:
    """Samples spell it both `Activity Log` and `ActivityLog`; rules should not have to know."""
    return "Activity Log" if value and value.replace(" ", "").lower() == "activitylog" else value


def _read_common(payload: dict[str, Any]) -> Event:
    essentials = _Common.model_validate(payload).data.essentials
    service = essentials.monitoring_service or "unknown"
    unnamed = f"{service} alert" + (f" ({', '.join(essentials.configuration_items)})"
                                    if essentials.configuration_items else "")
    return Event(
        source="alert",
        schema_name=f"common/{service}",
        rule_name=essentials.alert_rule or unnamed,
        rule_id=essentials.alert_rule_id or None,
        alert_id=essentials.alert_id,
        severity=severity_of(essentials.severity),
        signal_type=_signal_type(essentials.signal_type),
        monitoring_service=essentials.monitoring_service,
        condition=Condition(essentials.monitor_condition),
        target_ids=tuple(essentials.alert_target_ids or ()),
        fired_at=timestamp(essentials.fired),
        resolved_at=timestamp(essentials.resolved),
        description=essentials.description or None,
    ).with_payload(payload)


class _MetricContext(_Loose):
    timestamp: str = Field(min_length=1)
    id: str
    name: str = Field(min_length=1)
    description: str | None = None
    condition_type: str | None = Field(default=None, alias="conditionType")
    severity: str | int | None = None
    resource_id: str | None = Field(default=None, alias="resourceId")


class _Metric2019Data(_Loose):
    status: str
    context: _MetricContext


class _Metric2019(_Loose):
    schema_id: str = Field(alias="schemaId")
    data: _Metric2019Data


def _read_metric_2019(payload: dict[str, Any]) -> Event:
    data = _Metric2019.model_validate(payload).data
    context, condition = data.context, condition_of(data.status)
    moment = timestamp(context.timestamp)
    return Event(
        source="alert",
        schema_name="metric-alert-2019",
        rule_name=context.name,
        rule_id=context.id or None,
        alert_id=None,  # context.id names the rule, not this firing; the fingerprint uses rule+target+time
        severity=severity_of(context.severity),
        signal_type="Metric",
        monitoring_service="Platform",
        condition=condition,
        target_ids=(context.resource_id,) if context.resource_id else (),
        fired_at=moment,
        resolved_at=moment if condition is Condition.RESOLVED else None,
        description=context.description or None,
    ).with_payload(payload)


class _ClassicContext(_Loose):
    timestamp: str = Field(min_length=1)
    id: str | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    condition_type: str | None = Field(default=None, alias="conditionType")
    resource_id: str | None = Field(default=None, alias="resourceId")


class _Classic(_Loose):
    status: str
    context: _ClassicContext


def _read_classic(payload: dict[str, Any]) -> Event:
    alert = _Classic.model_validate(payload)
    context, condition = alert.context, condition_of(alert.status)
    moment = timestamp(context.timestamp)
    is_app_insights = "microsoft.insights/components" in (context.resource_id or "").lower()
    return Event(
        source="alert",
        schema_name="classic-app-insights" if is_app_insights else "classic-metric",
        rule_name=context.name,
        rule_id=context.id or None,  # the classic alert rule's resource id
        alert_id=None,
        severity=None,  # classic alerts carry no severity
        signal_type="Metric" if (context.condition_type or "Metric").lower() == "metric" else context.condition_type,
        monitoring_service="Application Insights" if is_app_insights else "Platform",
        condition=condition,
        target_ids=(context.resource_id,) if context.resource_id else (),
        fired_at=moment,
        resolved_at=moment if condition is Condition.RESOLVED else None,
        description=context.description or None,
    ).with_payload(payload)


class _LogSearch(_Loose):
    alert_rule_name: str = Field(alias="AlertRuleName", min_length=1)
    search_query: str = Field(alias="SearchQuery")
    interval_start: str | None = Field(default=None, alias="SearchIntervalStartTimeUtc")
    interval_end: str | None = Field(default=None, alias="SearchIntervalEndtimeUtc")
    severity: str | int | None = Field(default=None, alias="Severity")
    description: str | None = Field(default=None, alias="Description")
    resource_id: str | None = Field(default=None, alias="ResourceId")
    workspace_id: str | None = Field(default=None, alias="WorkspaceId")
    application_id: str | None = Field(default=None, alias="ApplicationId")


def _read_app_insights_log(payload: dict[str, Any]) -> Event:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise PayloadError(422, "invalid_payload", f"{APP_INSIGHTS_LOG} payload has no 'data' object",
                           ["data: required"])
    return _read_log_search(data, raw=payload)


def _read_log_search(payload: dict[str, Any], raw: dict[str, Any] | None = None) -> Event:
    alert = _LogSearch.model_validate(payload)
    fired_at = timestamp(alert.interval_end) or timestamp(alert.interval_start)
    if fired_at is None:
        raise PayloadError(422, "invalid_payload", "log search alert has no search interval time",
                           ["SearchIntervalEndtimeUtc: required (or SearchIntervalStartTimeUtc)"])
    service = "Application Insights" if alert.application_id else "Log Analytics"
    return Event(
        source="alert",
        schema_name="log-search-legacy",
        rule_name=alert.alert_rule_name,
        alert_id=None,
        severity=severity_of(alert.severity),
        signal_type="Log",
        monitoring_service=service,
        condition=Condition.FIRED,  # these alerts have no resolved notification
        target_ids=(alert.resource_id,) if alert.resource_id else (),
        fired_at=fired_at,
        description=alert.description or None,
    ).with_payload(raw or payload)


class _ActivityLogEntry(_Loose):
    event_timestamp: str = Field(alias="eventTimestamp", min_length=1)
    operation_name: str = Field(alias="operationName", min_length=1)
    event_source: str | None = Field(default=None, alias="eventSource")
    event_data_id: str | None = Field(default=None, alias="eventDataId")
    level: str | None = None
    resource_id: str | None = Field(default=None, alias="resourceId")
    subscription_id: str | None = Field(default=None, alias="subscriptionId")
    description: str | None = None
    properties: dict[str, Any] | None = None


class _ActivityLogContext(_Loose):
    activity_log: _ActivityLogEntry = Field(alias="activityLog")


class _ActivityLogData(_Loose):
    status: str
    context: _ActivityLogContext


class _ActivityLog(_Loose):
    schema_id: str = Field(alias="schemaId")
    data: _ActivityLogData


def _read_activity_log(payload: dict[str, Any]) -> Event:
    data = _ActivityLog.model_validate(payload).data
    entry = data.context.activity_log
    properties = entry.properties or {}
    source = entry.event_source or "Administrative"
    # Service and resource health entries carry a human title; the operation name is the rest's best label.
    label = properties.get("title") if source in ("ServiceHealth", "ResourceHealth") else None
    # Service health entries name no resource: the subscription is what they are about.
    target = entry.resource_id or (f"/subscriptions/{entry.subscription_id}" if entry.subscription_id else None)
    return Event(
        source="alert",
        schema_name="activity-log-legacy",
        rule_name=label or entry.operation_name,
        alert_id=entry.event_data_id,
        severity=severity_of(entry.level),
        signal_type="Activity Log",
        monitoring_service=f"Activity Log - {source}",
        condition=condition_of(data.status),
        target_ids=(target,) if target else (),
        fired_at=timestamp(entry.event_timestamp),
        description=entry.description or None,
    ).with_payload(payload)


_BY_SCHEMA_ID: dict[str, Callable[[dict[str, Any]], Event]] = {
    COMMON.lower(): _read_common,
    METRIC_2019.lower(): _read_metric_2019,
    ACTIVITY_LOG.lower(): _read_activity_log,
    APP_INSIGHTS_LOG.lower(): _read_app_insights_log,
}

_LOOKED_FOR = (
    "a 'schemaId' of azureMonitorCommonAlertSchema, AzureMonitorMetricAlert, Microsoft.Insights/activityLogs or "
    "Microsoft.Insights/LogAlert; "
    "or a classic alert ('status' and 'context'); or a log search alert ('AlertRuleName' and 'SearchQuery')"
)


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {item['msg'].lower()}" if item["type"] != "missing" else f"{where}: required")
    return problems


def _shown(text: str, longest: int = 80) -> str:
    """A value from the payload as a message quotes it: cut, so that a refusal never echoes a huge input."""
    return text if len(text) <= longest else f"{text[:longest]}... ({len(text):,} characters)"


def read(payload: Any) -> Event:
    if not isinstance(payload, dict):
        raise PayloadError(422, "unknown_schema", f"an alert payload is a JSON object, not {type(payload).__name__}")
    schema_id = payload.get("schemaId")
    if isinstance(schema_id, str) and schema_id:
        reader = _BY_SCHEMA_ID.get(schema_id.lower())
        if reader is None:
            raise PayloadError(
                422, "unknown_schema", f"schemaId {_shown(repr(schema_id))} is not supported; expected {_LOOKED_FOR}"
            )
        name = schema_id
    elif "status" in payload and "context" in payload:
        reader, name = _read_classic, "classic alert"
    elif "AlertRuleName" in payload and "SearchQuery" in payload:
        reader, name = _read_log_search, "log search alert"
    else:
        present = ", ".join(_shown(key, 40) for key in sorted(map(str, payload))[:12]) or "none"
        raise PayloadError(
            422, "unknown_schema",
            f"the payload matches no known alert schema: expected {_LOOKED_FOR}; top-level keys present: {present}",
        )
    try:
        return reader(payload)
    except PayloadError:
        raise
    except ValidationError as error:
        problems = _problems(error)
        raise PayloadError(
            422, "invalid_payload", f"{name} payload is missing or has invalid fields: {'; '.join(problems)}", problems
        ) from None
    except ValueError as error:  # a timestamp that is not ISO 8601
        raise PayloadError(422, "invalid_payload", f"{name} payload has an invalid value: {_shown(str(error), 200)}"
                           ) from None
