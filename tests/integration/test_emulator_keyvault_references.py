"""App Service Key Vault references as the emulator serves them, driven by the real WebSiteManagementClient
(its methods, and `send_request` for the refresh, which the SDK has no method for) against real PostgreSQL
databases: a backend keeps the database it started with until its references are refreshed and it restarts,
and its /health/detailed connects for real to the database its `DATABASE_URL` names."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest
from azure.core.rest import HttpRequest

from local.emulator import RESOURCE_GROUP, SUBSCRIPTION, Emulator
from local.emulator.web import WebScenario
from tests.support.credentials import EmulatorToken

PASSWORD = "Db-pa55word-kept-secret"
REFRESH_VERSION = "2022-03-01"  # the api-version Microsoft's docs give for the refresh


@pytest.fixture(scope="module")
def shared_emulator():
    """One emulator and two real databases for the module (each costs a real cluster)."""
    with Emulator() as emu:
        emu.add_postgres_server("augeo-production-db", password=PASSWORD)
        emu.add_postgres_server("augeo-production-db-restored", password=PASSWORD)
        yield emu


@pytest.fixture
def emu(shared_emulator):
    shared_emulator.web.scenario = WebScenario(restart_seconds=0, reference_refresh_seconds=0.05)
    shared_emulator.recorder.faults.clear()
    return shared_emulator


@pytest.fixture
def databases(emu):
    """(old, new): the connection strings of the production database and of its restored copy."""
    old, new = (emu.postgres.server(name) for name in ("augeo-production-db", "augeo-production-db-restored"))
    return old.url("augeo", "augeoadmin", PASSWORD), new.url("augeo", "augeoadmin", PASSWORD)


@pytest.fixture
def app(emu, databases, request):
    """A backend whose DATABASE_URL is a versionless Key Vault reference to its own `database-url` secret."""
    name = "api-" + request.node.name.replace("_", "-")[5:40].strip("-").lower()
    secret = f"{name}-database-url"
    emu.vault.set(secret, databases[0])
    reference = f"@Microsoft.KeyVault(SecretUri={emu.vault_url}/secrets/{secret}/)"
    site = emu.add_app(name, production="v1.2.3", app_settings={"DATABASE_URL": reference, "LOG_LEVEL": "info"})
    site.secret, site.reference = secret, reference
    return site


@pytest.fixture
def web(emu):
    from azure.mgmt.web import WebSiteManagementClient

    with WebSiteManagementClient(EmulatorToken(), SUBSCRIPTION, base_url=emu.arm_url, connection_verify=emu.ca_path,
                                 retry_total=0) as client:
        yield client


def detailed_health(emu, site) -> httpx.Response:
    with httpx.Client(verify=ssl.create_default_context(cafile=emu.ca_path)) as http:
        return http.get(f"https://127.0.0.1:{site.slots['production'].health_port}/health/detailed")


def refresh(web, site, api_version: str = REFRESH_VERSION):
    return web.send_request(HttpRequest("POST", f"{site.id}/config/configreferences/appsettings/refresh",
                                        params={"api-version": api_version}))


def references(web, site) -> dict:
    answer = web.send_request(HttpRequest("GET", f"{site.id}/config/configreferences/appsettings",
                                          params={"api-version": REFRESH_VERSION}))
    assert answer.status_code == 200
    return {item["name"]: item["properties"] for item in answer.json()["value"]}


def wait_for_version(web, site, version: str, timeout: float = 10.0) -> dict:
    """Read the references until DATABASE_URL resolved to `version`, as a client of the refresh must."""
    deadline = time.monotonic() + timeout
    while (found := references(web, site)["DATABASE_URL"])["activeVersion"] != version:
        assert time.monotonic() < deadline, f"still {found}"
        time.sleep(0.02)
    return found


def test_app_settings_are_listed_as_written_with_the_reference_unresolved(web, app):
    settings = web.web_apps.list_application_settings(RESOURCE_GROUP, app.name)
    assert settings.properties == {"DATABASE_URL": app.reference, "LOG_LEVEL": "info"}
    assert settings.name == "appsettings" and settings.type == "Microsoft.Web/sites/config"


def test_the_references_status_says_each_reference_resolved_and_to_which_version(emu, web, app):
    version = emu.vault.latest(app.secret).id
    listed = list(web.web_apps.get_app_settings_key_vault_references(RESOURCE_GROUP, app.name))
    assert [item.name for item in listed] == ["DATABASE_URL"]  # plain settings are not references
    assert listed[0].status == "Resolved" and listed[0].active_version == version
    assert listed[0].secret_name == app.secret and listed[0].secret_version is None and listed[0].source == "KeyVault"
    one = web.web_apps.get_app_setting_key_vault_reference(RESOURCE_GROUP, app.name, "DATABASE_URL")
    assert one.reference == app.reference and one.active_version == version
    assert references(web, app)["DATABASE_URL"]["status"] == "Resolved"  # the same through send_request


def test_the_backend_reports_the_database_it_really_reached(emu, app, databases):
    health = detailed_health(emu, app)
    assert health.status_code == 200 and health.json()["checks"]["database"] == "ok"
    old = emu.postgres.server("augeo-production-db")
    assert health.json()["checks"]["database_server"] == old.address  # what the database itself says
    assert detailed_health(emu, app).json()["version"] == "v1.2.3"


def test_a_switched_secret_is_not_used_until_refreshed_a_plain_restart_keeps_the_old_database(emu, web, app, databases):
    old_version = emu.vault.latest(app.secret).id
    emu.vault.set(app.secret, databases[1])
    web.web_apps.restart(RESOURCE_GROUP, app.name)
    assert app.slots["production"].restarts == 1
    old = emu.postgres.server("augeo-production-db")
    assert detailed_health(emu, app).json()["checks"]["database_server"] == old.address
    assert references(web, app)["DATABASE_URL"]["activeVersion"] == old_version


def test_refreshed_then_restarted_the_backend_uses_the_new_database(emu, web, app, databases):
    new_version = emu.vault.set(app.secret, databases[1]).id
    answer = refresh(web, app)
    assert answer.status_code == 200 and answer.content == b""
    wait_for_version(web, app, new_version)
    old, new = (emu.postgres.server(n) for n in ("augeo-production-db", "augeo-production-db-restored"))
    # Refreshed, not restarted: the running backend still has the value it started with.
    assert detailed_health(emu, app).json()["checks"]["database_server"] == old.address
    web.web_apps.restart(RESOURCE_GROUP, app.name)
    health = detailed_health(emu, app)
    assert health.status_code == 200 and health.json()["checks"]["database_server"] == new.address


def test_a_restart_after_the_24_hour_cache_expired_picks_up_the_new_version(emu, web, app, databases):
    new_version = emu.vault.set(app.secret, databases[1]).id
    emu.web.age_references(app.name, 24 * 3600 + 1)
    web.web_apps.restart(RESOURCE_GROUP, app.name)
    assert references(web, app)["DATABASE_URL"]["activeVersion"] == new_version
    new = emu.postgres.server("augeo-production-db-restored")
    assert detailed_health(emu, app).json()["checks"]["database_server"] == new.address


def test_changing_an_app_setting_refetches_every_reference_and_restarts(emu, web, app, databases):
    new_version = emu.vault.set(app.secret, databases[1]).id
    settings = web.web_apps.list_application_settings(RESOURCE_GROUP, app.name)
    settings.properties["LOG_LEVEL"] = "debug"
    web.web_apps.update_application_settings(RESOURCE_GROUP, app.name, settings)
    assert app.slots["production"].restarts == 1
    assert references(web, app)["DATABASE_URL"]["activeVersion"] == new_version
    new = emu.postgres.server("augeo-production-db-restored")
    assert detailed_health(emu, app).json()["checks"]["database_server"] == new.address


def test_a_disabled_newest_version_leaves_the_reference_text_as_the_value(emu, web, app):
    emu.vault.set(app.secret, "postgresql://augeoadmin:x@127.0.0.9:1/augeo")
    emu.vault.disable(app.secret)
    refresh(web, app)
    deadline = time.monotonic() + 10
    while (status := references(web, app)["DATABASE_URL"])["status"] == "Resolved":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["status"] == "OtherReasons" and "disabled" in status["details"] and status["activeVersion"] is None
    web.web_apps.restart(RESOURCE_GROUP, app.name)
    assert app.slots["production"].environment["DATABASE_URL"] == app.reference  # as App Service documents
    health = detailed_health(emu, app)
    assert health.status_code == 503 and health.json()["checks"]["database"].startswith("error: ")


@pytest.mark.parametrize(("reference", "status"), [
    ("@Microsoft.KeyVault(SecretUri={vault}/secrets/no-such-secret/)", "SecretNotFound"),
    ("@Microsoft.KeyVault(SecretUri={vault}/secrets/{secret}/{zeros})", "SecretVersionNotFound"),
    ("@Microsoft.KeyVault(SecretUri=https://another-vault.vault.azure.net/secrets/{secret}/)", "VaultNotFound"),
    ("@Microsoft.KeyVault(SecretUri=not a uri)", "InvalidSyntax"),
    ("@Microsoft.KeyVault(VaultName=augeo-production-kv;SecretName={secret})", "Resolved"),
])
def test_each_reference_gets_the_status_app_service_would_give_it(emu, web, app, reference, status):
    value = reference.format(vault=emu.vault_url, secret=app.secret, zeros="0" * 32)
    web.web_apps.update_application_settings(RESOURCE_GROUP, app.name, {"properties": {"DATABASE_URL": value}})
    assert references(web, app)["DATABASE_URL"]["status"] == status


def test_a_wrong_password_is_reported_without_the_password(emu, web, app, databases):
    wrong = databases[0].replace(PASSWORD, "Not-the-right-one-42")
    emu.vault.set(app.secret, wrong)
    emu.web.age_references(app.name, 25 * 3600)
    web.web_apps.restart(RESOURCE_GROUP, app.name)
    health = detailed_health(emu, app)
    assert health.status_code == 503 and "password authentication failed" in health.json()["checks"]["database"]
    assert "Not-the-right-one-42" not in health.text and PASSWORD not in health.text


def test_the_refresh_is_refused_with_an_unknown_api_version_and_while_the_site_is_busy(emu, web, app):
    assert refresh(web, app, "1999-01-01").status_code == 400
    assert refresh(web, app, "2025-05-01").status_code == 200  # the SDK's version works too
    emu.web.hold(app.name, seconds=30)
    busy = refresh(web, app)
    assert busy.status_code == 409 and busy.json()["Code"] == "Conflict"
