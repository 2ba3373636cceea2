"""Real-shaped alert payloads: Microsoft's published samples (tests/fixtures/alerts) with our names in them."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "alerts"  # Microsoft's published samples


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def metric_alert(target: str, *, rule: str = "backend 5xx rate above threshold", severity: str = "Sev1",
                 condition: str = "Fired", alert_id: str | None = None, fired_at: datetime | None = None,
                 ) -> dict[str, Any]:
    """A Common Alert Schema platform metric alert (the published static-threshold sample) on `target`."""
    payload = copy.deepcopy(fixture("common_metric_static.json"))
    essentials = payload["data"]["essentials"]
    subscription = target.split("/")[2]
    essentials.update(
        alertId=alert_id or f"/subscriptions/{subscription}/providers/Microsoft.AlertsManagement/alerts/{uuid.uuid4()}",
        alertRule=rule, severity=severity, signalType="Metric", monitorCondition=condition,
        monitoringService="Platform", alertTargetIDs=[target], configurationItems=[target.rsplit("/", 1)[-1]],
        firedDateTime=(fired_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        description="HTTP 5xx responses above 5% of requests for 5 minutes",
    )
    if condition == "Resolved":
        essentials["resolvedDateTime"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    criteria = payload["data"]["alertContext"]["condition"]["allOf"][0]
    criteria.update(metricName="Http5xx", metricNamespace="Microsoft.Web/sites", operator="GreaterThan",
                    threshold="5", timeAggregation="Total", metricValue=42)
    return payload
