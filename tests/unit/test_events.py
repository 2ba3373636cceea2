"""Alert payload parsing, on the samples Microsoft publishes (tests/fixtures/alerts, see SOURCES.md). Pure."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shared.errors import PayloadError
from shared.events import Condition, Severity, parse_alert
from tests.support.alerts import FIXTURES, fixture

FULL_PAYLOADS = sorted(p.name for p in FIXTURES.glob("*.json")
                       if "alertContext" not in json.loads(p.read_text()) or "schemaId" in json.loads(p.read_text()))

# (file, schema_name, rule_name, severity, signal_type, condition, first target id or None, fired_at)
EXPECTED = [
    ("common_metric_static.json", "common/Platform", "test-metricAlertRule", "Sev4", "Metric", "Fired",
     "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourcegroups/test-RG/providers/microsoft.storage/"
     "storageaccounts/test-storageAccount", "2025-04-15T18:17:12.851+00:00"),
    ("common_metric_dynamic.json", "common/Platform", "test-dynamicMetricAlertRule", "Sev4", "Metric", "Fired",
     None, None),
    ("common_metric_resolved.json", "common/Platform", "WCUS-R2-Gen2", "Sev3", "Metric", "Resolved",
     "/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/microsoft.compute/"
     "virtualmachines/wcus-r2-gen2", "2019-03-22T13:58:24.371321+00:00"),
    ("common_log_analytics_v1.json", "common/Log Analytics", "test-logAlertRule-v1-metricMeasurement", "Sev4", "Log",
     "Fired", None, None),
    ("common_log_alerts_v2.json", "common/Log Alerts V2", "test-logAlertRule-v2", "Sev4", "Log", "Fired", None, None),
    ("common_activity_log_administrative.json", "common/Activity Log - Administrative", "test-activityLogAlertRule",
     "Sev4", "Activity Log", "Fired", None, None),
    ("common_activity_log_service_health.json", "common/ServiceHealth", "test-ServiceHealthAlertRule", "Sev4",
     "Activity Log", "Fired", "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e", None),
    ("common_activity_log_service_health_2021.json", "common/ServiceHealth", "test-ServiceHealthAlertRule", "Sev4",
     "Activity Log", "Fired", None, "2021-11-17T05:34:48.062317+00:00"),
    ("common_activity_log_resource_health.json", "common/Resource Health", "test-ResourceHealthAlertRule", "Sev4",
     "Activity Log", "Fired", None, None),
    ("common_smart_detector.json", "common/SmartDetector", "test-SmartAlertRule", "Sev4", "Log", "Fired", None, None),
    ("common_cost_budget.json", "common/CostAlerts", "CostAlerts alert (budgets)", None, None, "Fired", None, None),
    ("classic_metric_alert.json", "classic-metric", "ruleName1", None, "Metric", "Fired",
     "/subscriptions/s1/resourceGroups/useast/providers/microsoft.foo/sites/mysite1",
     "2015-08-14T22:26:41.997539+00:00"),
    ("metric_alert_2019.json", "metric-alert-2019", "StorageCheck", "Sev3", "Metric", "Fired", None, None),
    ("metric_alert_2019_dynamic.json", "metric-alert-2019", "test-metricAlertRule", "Sev3", "Metric", "Fired",
     None, None),
    ("legacy_log_analytics_alert.json", "log-search-legacy", "AcmeRule", "Sev2", "Log", "Fired", None,
     "2018-03-26T09:10:40+00:00"),
    ("legacy_app_insights_log_alert.json", "log-search-legacy", "AcmeRule", "Sev3", "Log", "Fired", None, None),
    ("legacy_log_alert_v1_metric_measurement.json", "log-search-legacy", "test-logAlertRule-v1-metricMeasurement",
     "Sev3", "Log", "Fired", None, None),
    ("activity_log_alert_legacy.json", "activity-log-legacy", "Microsoft.Compute/virtualMachines/restart/action",
     "Sev3", "Activity Log", "Fired", None, None),
    ("activity_log_alert_legacy_service_health.json", "activity-log-legacy",
     "Test Action Group - Test Service Health Alert", "Sev2", "Activity Log", "Fired",
     "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e", None),
    ("activity_log_alert_legacy_resource_health.json", "activity-log-legacy", "Rebooted by user", "Sev3",
     "Activity Log", "Fired", None, None),
]


@pytest.mark.parametrize(("name", "schema", "rule", "severity", "signal", "condition", "target", "fired"), EXPECTED,
                         ids=[row[0] for row in EXPECTED])
def test_published_sample_becomes_one_normalized_event(name, schema, rule, severity, signal, condition, target, fired):
    event = parse_alert(fixture(name))
    assert event.source == "alert"
    assert event.schema_name == schema
    assert event.rule_name == rule
    assert event.severity == (Severity(severity) if severity else None)
    assert event.signal_type == signal
    assert event.condition == Condition(condition)
    if target:
        assert event.target_ids[0] == target
    if fired:
        assert event.fired_at == datetime.fromisoformat(fired)
    assert event.fired_at.tzinfo is not None


@pytest.mark.parametrize("name", FULL_PAYLOADS)
def test_every_full_published_sample_is_accepted_or_refused_with_a_reason(name):
    payload = fixture(name)
    try:
        event = parse_alert(payload)
    except PayloadError as error:
        # only the documented exceptions: an abbreviated doc sample and a schema this app does not act on
        assert name in {"activity_log_alert_legacy_administrative_webhook_doc.json",
                        "legacy_budget_notification.json"}, error.message
        assert error.status == 422
        return
    assert event.rule_name and event.fingerprint


@pytest.mark.parametrize("fragment", ["common_prometheus.json", "common_app_insights_log_v1.json",
                                      "common_log_analytics_v1_context.json", "common_activity_log_policy.json",
                                      "common_activity_log_autoscale.json", "common_activity_log_security.json"])
def test_published_alert_context_fragments_parse_inside_the_common_envelope(fragment):
    """Microsoft publishes only the alertContext for these services; the essentials are the common ones."""
    payload = fixture("common_metric_static.json")
    payload["data"]["alertContext"] = fixture(fragment)["alertContext"]
    service = {"common_prometheus.json": "Prometheus", "common_app_insights_log_v1.json": "Application Insights"}
    payload["data"]["essentials"]["monitoringService"] = service.get(fragment, "Log Analytics")
    event = parse_alert(payload)
    assert event.schema_name == f"common/{service.get(fragment, 'Log Analytics')}"


def test_the_same_alert_delivered_twice_has_one_fingerprint():
    first, second = parse_alert(fixture("common_metric_static.json")), parse_alert(fixture("common_metric_static.json"))
    assert first.fingerprint == second.fingerprint


def test_fired_and_resolved_deliveries_of_one_alert_differ_but_resolved_finds_the_fired_one():
    fired = fixture("common_metric_resolved.json")
    fired["data"]["essentials"]["monitorCondition"] = "Fired"
    fired_event, resolved_event = parse_alert(fired), parse_alert(fixture("common_metric_resolved.json"))
    assert fired_event.fingerprint != resolved_event.fingerprint
    assert resolved_event.fired_fingerprint == fired_event.fingerprint


def test_schemas_without_an_alert_id_fingerprint_on_rule_target_and_time():
    payload = fixture("metric_alert_2019.json")
    later = json.loads(json.dumps(payload))
    later["data"]["context"]["timestamp"] = "2018-02-28T10:49:10.1714386Z"
    assert parse_alert(payload).alert_id is None
    assert parse_alert(payload).fingerprint == parse_alert(fixture("metric_alert_2019.json")).fingerprint
    assert parse_alert(payload).fingerprint != parse_alert(later).fingerprint


def test_metric_alert_2019_deactivated_is_resolved():
    payload = fixture("metric_alert_2019.json")
    payload["data"]["status"] = "Deactivated"
    assert parse_alert(payload).condition is Condition.RESOLVED


def test_timestamps_with_seven_digits_or_no_zone_are_read_as_utc():
    payload = fixture("common_metric_static.json")
    payload["data"]["essentials"]["firedDateTime"] = "2026-11-25T03:15:02.1234567"
    assert parse_alert(payload).fired_at == datetime(2026, 11, 25, 3, 15, 2, 123456, tzinfo=timezone.utc)


def test_the_raw_payload_is_kept_redacted():
    payload = fixture("common_metric_static.json")
    payload["data"]["customProperties"] = {"apiToken": "s3cr3t-value-123", "note": "password=hunter2hunter2"}
    raw = parse_alert(payload).raw
    assert "s3cr3t-value-123" not in raw and "hunter2hunter2" not in raw
    assert "test-metricAlertRule" in raw


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda p: p["data"]["essentials"].pop("alertId"), "data.essentials.alertId: required"),
    (lambda p: p["data"]["essentials"].pop("firedDateTime"), "data.essentials.firedDateTime: required"),
    (lambda p: p["data"]["essentials"].update(monitorCondition="Maybe"), "data.essentials.monitorCondition"),
    (lambda p: p["data"]["essentials"].update(severity="Sev9"), "data.essentials.severity"),
    (lambda p: p["data"].pop("essentials"), "data.essentials: required"),
    (lambda p: p["data"]["essentials"].update(firedDateTime="yesterday"), "invalid value"),
])
def test_common_schema_payload_with_missing_or_bad_fields_is_422_naming_them(mutate, where):
    payload = fixture("common_metric_static.json")
    mutate(payload)
    with pytest.raises(PayloadError) as caught:
        parse_alert(payload)
    assert caught.value.status == 422
    assert where in caught.value.message


@pytest.mark.parametrize(("payload", "says"), [
    ({"hello": "world"}, "matches no known alert schema"),
    ({"schemaId": "SomethingElse", "data": {}}, "schemaId 'SomethingElse' is not supported"),
    ([1, 2, 3], "is a JSON object, not list"),
    ("text", "is a JSON object, not str"),
])
def test_unknown_shapes_are_422_saying_what_was_expected(payload, says):
    with pytest.raises(PayloadError) as caught:
        parse_alert(payload)
    assert caught.value.status == 422 and says in caught.value.message
    assert "azureMonitorCommonAlertSchema" in caught.value.message or "JSON object" in caught.value.message


def test_abbreviated_activity_log_sample_is_refused_naming_the_missing_fields():
    with pytest.raises(PayloadError) as caught:
        parse_alert(fixture("activity_log_alert_legacy_administrative_webhook_doc.json"))
    assert "data.context.activityLog.eventTimestamp: required" in caught.value.problems
    assert "data.context.activityLog.operationName: required" in caught.value.problems
