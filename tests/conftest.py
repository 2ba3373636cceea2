"""Shared fixtures: real Azurite, the local Azure emulator, and the function app driven like the host does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from local.demo import swap_back_rules
from local.emulator import Emulator
from local.processes import Azurite

TEST_RULES = swap_back_rules(health_attempts=2, health_interval=0.05, health_timeout=2, verify_window=1.5,
                             verify_interval=0.05, verify_successes=2, inflight_window=3,
                             poll_interval=0.05, conflict_interval=0.2)


@pytest.fixture(scope="session")
def azurite():
    server = Azurite().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def short_pages(azurite):
    """The Table Storage stand-in that answers queries with short and empty pages (tests/support/short_pages.py),
    in front of the session's Azurite."""
    from tests.support.short_pages import ShortPagesProxy

    proxy = ShortPagesProxy(azurite.ports["table"]).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def short_pages_storage(azurite, short_pages) -> str:
    """A connection string whose tables are served through the short-pages proxy (the queue is Azurite's); the
    proxy's cuts start over from its seed for each test."""
    short_pages.reset()
    return short_pages.connection_string(azurite)


@pytest.fixture(scope="session")
def oauth_azurite(tmp_path_factory):
    """An Azurite that serves HTTPS (its own trustme CA, `oauth_azurite.ca_path`) and accepts bearer tokens, for
    the identity-based form of AzureWebJobsStorage."""
    import trustme

    folder = tmp_path_factory.mktemp("azurite-oauth")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    certificate.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    server = Azurite(oauth=(str(folder / "cert.pem"), str(folder / "key.pem"))).start()
    server.ca_path = str(folder / "ca.pem")
    yield server
    server.stop()


@pytest.fixture
def emulator():
    with Emulator() as emu:
        yield emu


@pytest.fixture
def issuer(emulator):
    from tests.support.identity import Issuer

    return Issuer(emulator)


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(TEST_RULES)
    return path


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, emulator: Emulator, rules_file: Path, issuer
            ) -> dict[str, str]:
    """App settings for one test: its own tables and queue in the shared Azurite, the emulator as Azure."""
    unique = uuid.uuid4().hex[:10]
    env = {"AzureWebJobsStorage": azurite.connection_string, "RESPONDER_TABLE_PREFIX": f"t{unique}",
           "RESPONDER_QUEUE": f"runs-{unique}", "RESPONDER_RULES_PATH": str(rules_file),
           "RESPONDER_LEASE_DURATION": "20s", **emulator.settings_env(), **issuer.settings_env()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def app(app_env: dict[str, str]):
    from function_app import app as function_app
    from tests.support.harness import AppHarness

    harness = AppHarness(function_app, app_env)
    yield harness
    await harness.aclose()


def pytest_sessionfinish(session, exitstatus):
    """A skipped test here would hide a missing dependency: fail the run instead (install it)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; install what they need instead", red=True)
        session.exitstatus = 1
