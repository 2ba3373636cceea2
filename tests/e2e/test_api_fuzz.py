"""Schemathesis fuzzes the HTTP API from its own OpenAPI document, against the app served by the local
runner in a process of its own: whatever it sends, no 5xx, and every refusal is a JSON body saying why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(app_env, emulator):
    emulator.add_app("augeo-production-api", production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "local.cli", "serve", "--port", str(port)], cwd=ROOT,
                               env={**os.environ, **app_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/openapi.json").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the local runner did not start"
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(10)


@pytest.fixture
def api_schema(served):
    return schemathesis.openapi.from_url(f"{served}/api/openapi.json")


@pytest.fixture
def caller(issuer):
    return issuer.headers("Responder.Operator", "Responder.Approver", name="fuzzer@contoso.com")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_with_a_server_error(case, served, caller):
    # The alert intake takes plain webhooks (function key only) here, so the fuzzer reaches its parser; an
    # operator's token there would be refused (403) before the body is read.
    headers = {} if case.path == "/api/alerts" else caller
    response = case.call(base_url=served, headers=headers, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (
            case.method, case.formatted_path, response.status_code, response.text[:200])
        body = response.json()
        assert body["error"] and body["message"], body
