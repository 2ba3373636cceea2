"""Alert payload parsing, on the samples Microsoft publishes (tests/fixtures/alerts, see SOURCES.md). Pure."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from shared.errors import PayloadError
from shared.decide.events import Condition, Severity, parse_alert
from local.alerts import FIXTURES, fixture

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
    raw = parse_alert(payload).recorded_raw
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


# --- caps: every field fits Table Storage (a string property holds 32K UTF-16 characters) --------------------

STORE_STRING_LIMIT = 32_767


def stored_length(value) -> int:
    """Characters the value takes in the incident's `event` property (JSON, non-ASCII escaped)."""
    return len(json.dumps(value, separators=(",", ":")))


@pytest.mark.parametrize(("field", "where"), [("description", "description"), ("alertRule", "rule_name"),
                                              ("alertId", "alert_id"), ("alertRuleID", "rule_id")])
@pytest.mark.parametrize("filler", ["a", "\u00e9", "\x01", '"', "\U0001F600"], ids=["ascii", "latin", "control",
                                                                                     "quote", "emoji"])
def test_a_huge_field_is_capped_to_fit_the_store_with_a_marker_of_what_was_cut(field, where, filler):
    payload = fixture("common_metric_static.json")
    payload["data"]["essentials"][field] = "head " + filler * 200_000
    event = parse_alert(payload)
    value = getattr(event, where)
    assert value.startswith("head ")
    cut = re.search(r"…\[\+([\d,]+) chars, sha256:([0-9a-f]{12})\]$", value)
    assert cut, value[-80:]
    assert len(value) - len(cut.group(0)) + int(cut.group(1).replace(",", "")) == 200_005  # what was cut is said
    assert stored_length(value) <= 4_100
    assert stored_length(event.summary()) < STORE_STRING_LIMIT


def test_every_field_at_once_at_its_worst_still_fits_one_table_property():
    payload = fixture("common_metric_static.json")
    worst = "\x01" * 100_000  # a control character takes 6 characters in JSON
    payload["data"]["essentials"].update(description=worst, alertRule=worst, alertId=worst, alertRuleID=worst,
                                         monitoringService=worst, signalType=worst,
                                         alertTargetIDs=[worst + str(n) for n in range(50)])
    assert stored_length(parse_alert(payload).summary()) < STORE_STRING_LIMIT * 0.8  # room to spare


def test_ten_thousand_targets_are_capped_and_their_true_count_kept():
    payload = fixture("common_metric_static.json")
    payload["data"]["essentials"]["alertTargetIDs"] = [f"/subscriptions/s/resourceGroups/r/providers/x/y/t{n}"
                                                       for n in range(10_000)]
    event = parse_alert(payload)
    assert event.targets_total == 10_000 and 1 <= len(event.target_ids) <= 20
    assert event.target_ids[0].endswith("/t0")  # the first targets, in the order Azure listed them
    assert event.summary()["targets_total"] == 10_000
    assert parse_alert(fixture("common_metric_static.json")).targets_total == 1


def test_short_values_are_kept_exactly():
    event = parse_alert(fixture("common_metric_static.json"))
    assert "…[+" not in json.dumps(event.summary(), ensure_ascii=False)


def test_two_huge_alerts_that_differ_only_after_the_cut_stay_two_and_one_delivered_twice_stays_one():
    def alert(tail: str) -> dict:
        payload = fixture("common_metric_static.json")
        payload["data"]["essentials"]["alertId"] = "/subscriptions/s/alerts/" + "x" * 300_000 + tail
        return payload

    first, again, other = parse_alert(alert("1")), parse_alert(alert("1")), parse_alert(alert("2"))
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint and first.alert_id != other.alert_id


def test_two_huge_rule_names_that_differ_only_after_the_cut_stay_two_rules():
    def alert(tail: str) -> dict:
        payload = fixture("metric_alert_2019.json")
        payload["data"]["context"]["name"] = "n" * 300_000 + tail
        return payload

    assert parse_alert(alert("1")).fingerprint == parse_alert(alert("1")).fingerprint
    assert parse_alert(alert("1")).rule_name != parse_alert(alert("2")).rule_name


# --- the alert rule's identity (issue 11.7) ---------------------------------------------------------------

OTHER_RG_RULE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/Fabrikam/providers/"
                 "microsoft.insights/metricAlerts/StorageCheck")


def test_two_2019_rules_with_one_name_in_two_resource_groups_are_two_alerts():
    first, second = fixture("metric_alert_2019.json"), fixture("metric_alert_2019.json")
    second["data"]["context"]["id"] = OTHER_RG_RULE
    one, two = parse_alert(first), parse_alert(second)
    assert one.rule_name == two.rule_name and one.target_ids == two.target_ids and one.fired_at == two.fired_at
    assert one.rule_id == first["data"]["context"]["id"] and two.rule_id == OTHER_RG_RULE
    assert one.fingerprint != two.fingerprint
    assert parse_alert(fixture("metric_alert_2019.json")).fingerprint == one.fingerprint  # same rule id: one


def test_the_same_rule_id_spelled_in_another_case_is_one_rule():
    upper = fixture("metric_alert_2019.json")
    upper["data"]["context"]["id"] = upper["data"]["context"]["id"].upper()
    assert parse_alert(upper).fingerprint == parse_alert(fixture("metric_alert_2019.json")).fingerprint


@pytest.mark.parametrize(("name", "rule_id"), [
    ("common_metric_resolved_with_rule_id.json",
     "/subscriptions/<subscription ID>/resourceGroups/<resource-group>/providers/microsoft.insights/metricAlerts/"
     "WCUS-R2-Gen2"),
    ("metric_alert_2019.json", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/Contoso/"
                               "providers/microsoft.insights/metricAlerts/StorageCheck"),
    ("classic_metric_alert.json", "/subscriptions/s1/resourceGroups/useast/providers/microsoft.insights/alertrules/"
                                  "ruleName1"),
    ("common_metric_static.json", None),
    ("legacy_log_analytics_alert.json", None),
])
def test_the_rule_id_is_read_where_the_schema_carries_it(name, rule_id):
    event = parse_alert(fixture(name))
    assert event.rule_id == rule_id and event.summary()["rule_id"] == rule_id


def test_the_common_schema_rule_id_is_read_in_either_spelling():
    payload = fixture("common_metric_resolved_with_rule_id.json")
    essentials = payload["data"]["essentials"]
    essentials["alertRuleID"] = essentials.pop("alertRuleId")
    assert parse_alert(payload).rule_id.endswith("/metricAlerts/WCUS-R2-Gen2")


def test_without_a_rule_id_the_rule_name_still_tells_rules_apart():
    first, second = fixture("legacy_log_analytics_alert.json"), fixture("legacy_log_analytics_alert.json")
    second["AlertRuleName"] = "OtherRule"
    assert parse_alert(first).fingerprint != parse_alert(second).fingerprint


def test_a_secret_in_the_description_never_reaches_the_event():
    payload = fixture("common_metric_static.json")
    payload["data"]["essentials"]["description"] = "login failed with password=hunter2hunter2 for sa"
    event = parse_alert(payload)
    assert "hunter2hunter2" not in event.description and "password=***" in event.description
    assert "hunter2hunter2" not in json.dumps(event.summary()) + (event.recorded_raw or "")


@pytest.mark.parametrize("mutate", [
    lambda p: p.update(schemaId="s" * 900_000),
    lambda p: p["data"]["essentials"].update(firedDateTime="2026-" + "1" * 900_000),
    lambda p: p.clear() or p.update({"k" * 900_000: 1}),
], ids=["schemaId", "firedDateTime", "a key"])
def test_a_refusal_of_a_huge_value_says_what_is_wrong_without_echoing_all_of_it(mutate):
    payload = fixture("common_metric_static.json")
    mutate(payload)
    with pytest.raises(PayloadError) as caught:
        parse_alert(payload)
    assert caught.value.status == 422 and len(caught.value.message) < 2_000, len(caught.value.message)
