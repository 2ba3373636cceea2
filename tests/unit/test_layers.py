"""Layers you can check: the decision modules import no SDK, function_app imports no heavy SDK at start-up and
nothing of the local tools, the triggers' only Azure import is azure.functions. (The import contracts
themselves are in .importlinter, run by `make test`; these are what they cannot say.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("azure.mgmt", "azure.data", "azure.storage", "azure.identity", "azure.keyvault", "azure.monitor",
         "azure.core", "redis", "httpx", "aiohttp", "jwt", "psycopg")
LOCAL_TOOLS = ("local", "tests", "croniter", "trustme")


def loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return set(json.loads(out.stdout))


def test_decision_modules_import_no_sdk():
    decide = sorted(f"shared.decide.{path.stem}" for path in (ROOT / "shared" / "decide").glob("*.py")
                    if path.stem != "__init__")
    modules = loaded_after(f"import {', '.join(decide)}")
    assert len(decide) >= 10 and not [m for m in modules if m.startswith(HEAVY)]


def test_function_app_start_up_imports_no_heavy_sdk(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "rules.yaml").read_text())
    modules = loaded_after("import function_app", {"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                                   "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": str(rules)})
    assert not [m for m in modules if m.startswith(HEAVY)]
    assert not [m for m in modules if m.split(".")[0] in LOCAL_TOOLS]  # local/ is not even deployed


def test_the_triggers_import_nothing_of_azure_but_azure_functions():
    import ast

    found = []
    for path in (ROOT / "blueprints").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names
                      if name.split(".")[0] == "azure" and not name.startswith("azure.functions")]
    assert found == []


def test_the_local_tools_are_left_out_of_the_deployment():
    ignored = (ROOT / ".funcignore").read_text().split()
    assert {"local", "tests", "bench"} <= set(ignored)


_TRY_A_TRIGGER = """
import asyncio, json, function_app
import azure.functions as func
fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
req = func.HttpRequest("POST", "http://localhost/api/alerts", headers={}, params={}, route_params={}, body=b"{}")
answer = asyncio.run(fns["receive_alert"](req))
print(json.dumps({"functions": sorted(fns), "status": answer.status_code, "body": json.loads(answer.get_body()),
                  "retry": answer.headers.get("Retry-After")}))
"""


def test_a_broken_rules_file_is_loud_but_every_function_still_indexes(tmp_path):
    """Raising at import would index no function: the webhook would answer 404, which Azure Monitor does not
    retry, and the deployment would look fine. Instead: an ERROR at start-up, and 503 misconfigured (retried)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: oops\n    match: {}\n    component: backend\n    steps: [{kind: nope}]\n")
    result = subprocess.run([sys.executable, "-c", _TRY_A_TRIGGER], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                 "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": str(rules)})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert {"receive_alert", "run_incident", "reconcile_incidents", "readiness"} <= set(outcome["functions"])
    assert outcome["status"] == 503 and outcome["retry"]
    assert outcome["body"]["error"] == "misconfigured"
    assert "rule 'oops' (rules[0]) steps[0].kind: unknown step kind 'nope'" in outcome["body"]["message"]
    assert "MISCONFIGURED" in result.stderr and "unknown step kind 'nope'" in result.stderr


def test_a_missing_setting_is_named_by_every_trigger(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "AzureWebJobsStorage"}
    result = subprocess.run([sys.executable, "-c", _TRY_A_TRIGGER], cwd=ROOT, capture_output=True, text=True,
                            env={**env, "RESPONDER_QUEUE": "runs"})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == 503 and "AzureWebJobsStorage: required" in outcome["body"]["message"]


def test_the_rules_path_is_relative_to_the_app_folder_not_the_working_directory(tmp_path):
    from shared.config import Settings

    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "RESPONDER_QUEUE": "runs",
                                  "RESPONDER_RULES_PATH": "rules.yaml"})
    assert Path(settings.rules_path) == ROOT / "rules.yaml"
    code = "import function_app; from shared import services; print('ok')"
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
                            cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                 "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": "rules.yaml"})
    assert result.returncode == 0 and "MISCONFIGURED" not in result.stderr, result.stderr
