"""`python -m local.cli`: explain shows the event and plan and acts on nothing; the demo ends healthy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local.alerts import FIXTURES, metric_alert
from tests.support.bodies import NOT_ACCEPTABLE_JSON
from tests.support.hang import hang_guard

ROOT = Path(__file__).resolve().parents[2]
SITE = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/augeo-production-api"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env=env)


def test_explain_prints_the_event_and_the_plan_the_rules_make(tmp_path):
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps(metric_alert(SITE)))
    result = cli("explain", str(payload), "--rules", str(ROOT / "rules.yaml"))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["event"]["rule_name"] == "backend 5xx rate above threshold"
    assert shown["event"]["severity"] == "Sev1" and shown["event"]["target_ids"] == [SITE]
    assert shown["plan"]["decision"] == "run" and shown["plan"]["rule"] == "backend-5xx-swap-back"
    assert shown["plan"]["steps"][0]["kind"] == "swap_back" and shown["plan"]["steps"][0]["target"] == SITE
    assert "acts on nothing" in shown["notes"]


def test_explain_of_an_alert_no_rule_matches_shows_a_suppressed_plan():
    result = cli("explain", str(FIXTURES / "common_metric_static.json"), "--rules", str(ROOT / "rules.yaml"))
    assert result.returncode == 0
    plan = json.loads(result.stdout)["plan"]
    assert plan["decision"] == "suppress" and "no rule matches alert 'test-metricAlertRule'" in plan["reason"]


def test_explain_refuses_unknown_and_unreadable_payloads_with_the_webhooks_message(tmp_path):
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"hello": "world"}')
    result = cli("explain", str(unknown))
    assert result.returncode == 2
    assert json.loads(result.stderr)["error"] == "unknown_schema"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    result = cli("explain", str(garbage))
    assert result.returncode == 2 and json.loads(result.stderr)["error"] == "invalid_json"
    result = cli("explain", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_explain_reports_an_invalid_rules_file_naming_the_rule(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: broken\n    match: {}\n    component: b\n    steps: [{kind: teleport}]\n")
    result = cli("explain", str(FIXTURES / "common_metric_static.json"), "--rules", str(rules))
    assert result.returncode == 2 and "rule 'broken' (rules[0]) steps[0].kind: unknown step kind" in result.stderr


def test_the_demo_ends_with_production_healthy_on_the_previous_release():
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resolved in" in result.stdout
    assert "production now runs v1.2.2" in result.stdout and "swaps requested: 1" in result.stdout
    assert "Unclosed" not in result.stderr


@pytest.mark.parametrize("kind", sorted(NOT_ACCEPTABLE_JSON))
def test_explain_refuses_json_it_cannot_accept_with_the_webhooks_message(tmp_path, capsys, kind):
    from local import cli as cli_module

    body, says = NOT_ACCEPTABLE_JSON[kind]
    payload = tmp_path / "alert.json"
    payload.write_bytes(body)
    with hang_guard(10, f"explain of {kind}"):
        code = cli_module.main(["explain", str(payload), "--rules", str(ROOT / "rules.yaml")])
    refused = json.loads(capsys.readouterr().err)
    assert code == 2 and refused["error"] == "invalid_json" and says in refused["message"]
