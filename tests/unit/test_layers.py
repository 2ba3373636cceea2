"""Layers you can check: the decision modules import no SDK, and function_app imports no heavy SDK at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("azure.mgmt", "azure.data", "azure.storage", "azure.identity", "azure.keyvault", "azure.monitor",
         "azure.core", "redis", "httpx", "aiohttp")


def loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return set(json.loads(out.stdout))


def test_decision_modules_import_no_sdk():
    modules = loaded_after("import shared.events, shared.alert_schemas, shared.rules, shared.plan, shared.status")
    assert not [m for m in modules if m.startswith(HEAVY)]


def test_function_app_start_up_imports_no_heavy_sdk(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "rules.yaml").read_text())
    modules = loaded_after("import function_app", {"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                                   "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": str(rules)})
    assert not [m for m in modules if m.startswith(HEAVY)]


def test_function_app_refuses_to_start_with_a_broken_rules_file(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: oops\n    match: {}\n    component: backend\n    steps: [{kind: nope}]\n")
    result = subprocess.run([sys.executable, "-c", "import function_app"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                 "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": str(rules)})
    assert result.returncode != 0
    assert "rule 'oops' (rules[0]) steps[0].kind: unknown step kind 'nope'" in result.stderr
