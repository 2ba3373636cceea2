"""AzureWebJobsStorage in the identity-based form (no connection string, as Flex Consumption sets it up and as a
"shared key disabled" policy requires): the incident tables and the run queue are reached with a bearer token,
end to end, on an Azurite that refuses requests without one."""

from __future__ import annotations

import ssl

import httpx
import pytest

from local.alerts import metric_alert

APP = "augeo-production-api"


@pytest.fixture
def identity_env(app_env, oauth_azurite, monkeypatch, tmp_path) -> dict[str, str]:
    """The test's settings with AzureWebJobsStorage replaced by service URIs on the OAuth Azurite."""
    trust = tmp_path / "ca-bundle.pem"  # the emulator's CA for ARM and health checks, Azurite's for storage
    trust.write_text(open(app_env["RESPONDER_CA_BUNDLE"]).read() + open(oauth_azurite.ca_path).read())
    env = {key: value for key, value in app_env.items() if key != "AzureWebJobsStorage"}
    env.update({"AzureWebJobsStorage__tableServiceUri": oauth_azurite.service_uri("table"),
                "AzureWebJobsStorage__queueServiceUri": oauth_azurite.service_uri("queue"),
                "RESPONDER_CA_BUNDLE": str(trust)})
    monkeypatch.delenv("AzureWebJobsStorage")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def identity_app(identity_env):
    from function_app import app as function_app
    from tests.support.harness import AppHarness

    harness = AppHarness(function_app, identity_env)
    yield harness
    await harness.aclose()


async def test_the_oauth_azurite_refuses_a_request_without_a_token(oauth_azurite):
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=oauth_azurite.ca_path)) as client:
        tables = await client.get(f"{oauth_azurite.service_uri('table')}/Tables",
                                  headers={"Accept": "application/json", "x-ms-version": "2019-02-02"})
        queues = await client.get(f"{oauth_azurite.service_uri('queue')}?comp=list")
        not_a_jwt = await client.get(f"{oauth_azurite.service_uri('table')}/Tables",
                                     headers={"Accept": "application/json", "x-ms-version": "2019-02-02",
                                              "Authorization": "Bearer emulator-token"})
    assert tables.status_code == 403 and queues.status_code == 403, (tables.text, queues.text)
    assert not_a_jwt.status_code == 403 and "Bearer is not supported" in not_a_jwt.text, not_a_jwt.text


async def test_an_alert_runs_end_to_end_on_identity_based_storage(identity_app, identity_env, emulator):
    site = emulator.add_app(APP, production="v1.2.3", staging="v1.2.2", broken={"v1.2.3"})

    status, body = await identity_app.post_alert(metric_alert(site.id))
    assert status == 202, body
    assert await identity_app.drain() >= 1  # the run message went through the queue on the OAuth Azurite

    incident = await identity_app.incident(body["incident_id"])
    assert incident["status"] == "resolved", incident
    assert emulator.release(APP, "production") == "v1.2.2"
    assert identity_app.services.settings.storage.identity_based
    assert "AzureWebJobsStorage" not in identity_env


def test_the_app_loads_with_only_identity_based_storage_settings(tmp_path):
    """The worker imports function_app (and indexes its functions) with no AzureWebJobsStorage connection string."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {key: value for key, value in os.environ.items() if not key.lower().startswith("azurewebjobsstorage")}
    env.update({"AzureWebJobsStorage__accountName": "augeoresponder", "AzureWebJobsStorage__credential":
                "managedidentity", "RESPONDER_QUEUE": "runs", "RESPONDER_RULES_PATH": str(root / "rules.yaml")})
    code = ("import function_app; from local.localrun import functions_of; "
            "print(len(functions_of(function_app.app)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
