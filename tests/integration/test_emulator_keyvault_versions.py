"""The Key Vault emulator keeps secret versions as Key Vault does, driven by the real SecretClient (sync and aio):
every set is a new version, each version stays readable, versions are listed in pages and in no order of time,
a disabled newest version is a 403 (never a fall-back), and a deleted name is recoverable and not reusable."""

from __future__ import annotations

import ssl
from itertools import count

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.support.credentials import AsyncEmulatorToken, EmulatorToken
from tests.support.shapes import assert_conforms, official

API = {"api-version": "2026-04-01"}
OLD_URL = "postgresql://augeoadmin:pw@127.0.0.2:5432/augeo"
NEW_URL = "postgresql://augeoadmin:pw@127.0.0.3:5432/augeo"


@pytest.fixture
def clock(emulator):
    """Key Vault's clock, moved by hand: `created` is in whole seconds, so versions set in one test second
    would all have the same one."""
    ticks = count(1_800_000_000, 60)
    emulator.vault.clock = lambda: next(ticks)
    return ticks


@pytest.fixture
def secrets(emulator, clock):
    from azure.keyvault.secrets import SecretClient

    with SecretClient(emulator.vault_url, EmulatorToken(), connection_verify=emulator.ca_path,
                      verify_challenge_resource=False, retry_total=0) as client:
        yield client


@pytest.fixture
def vault(emulator):
    with httpx.Client(base_url=emulator.vault_url, verify=ssl.create_default_context(cafile=emulator.ca_path),
                      headers={"Authorization": "Bearer emulator-token"}) as http:
        yield http


def test_bodies_have_the_official_examples_shape(emulator, vault):
    extras = {"recoverableDays"}  # in the spec's SecretAttributes; the examples leave it out
    written = vault.put("/secrets/database-url", params=API, json={"value": OLD_URL})
    assert written.status_code == 200  # not 201: Key Vault answers a new version with 200
    assert_conforms(written.json(), official("SetSecret.json"), extras)
    version = written.json()["id"].rsplit("/", 1)[-1]
    assert len(version) == 32 and int(version, 16) >= 0
    read = vault.get(f"/secrets/database-url/{version}", params=API)
    assert_conforms(read.json(), official("GetSecret.json"), extras)
    listed = vault.get("/secrets/database-url/versions", params=API).json()
    assert set(listed) == {"value", "nextLink"} and "value" not in listed["value"][0]  # no secret value in a list
    # The versions example (from 2016) shows fewer attributes than the spec's SecretAttributes defines.
    assert_conforms(listed["value"][0], official("GetSecretVersions.json")["value"][0], extras | {"recoveryLevel"})


def test_every_set_is_a_new_version_and_every_version_stays_readable(secrets):
    written = [secrets.set_secret("database-url", url) for url in (OLD_URL, NEW_URL, OLD_URL + "?x=1")]
    assert len({secret.properties.version for secret in written}) == 3
    assert secrets.get_secret("database-url").value == OLD_URL + "?x=1"
    assert secrets.get_secret("database-url", written[0].properties.version).value == OLD_URL
    assert secrets.get_secret("database-url", written[1].properties.version).value == NEW_URL
    with pytest.raises(ResourceNotFoundError, match="SecretNotFound"):
        secrets.get_secret("database-url", "0" * 32)


def test_versions_are_listed_in_pages_and_in_no_order_of_time(emulator, secrets):
    written = [secrets.set_secret("database-url", f"{OLD_URL}?v={n}").properties.version for n in range(5)]
    listed = list(secrets.list_properties_of_secret_versions("database-url", max_page_size=2))
    ids = [properties.version for properties in listed]
    assert sorted(ids) == sorted(written) and ids == sorted(ids)  # in the order of their ids, not of their writes
    by_time = [properties.version for properties in sorted(listed, key=lambda p: p.created_on)]
    assert by_time == written  # what a client must do: sort by created
    pages = [r for r in emulator.recorder.requests
                                       if r.server == "keyvault" and r.path.endswith("/versions")
                                       and r.headers.get("Authorization")]
    assert len(pages) == 3 and "$skiptoken" in pages[-1].query and pages[0].query["maxresults"] == "2"


@pytest.mark.parametrize("maxresults", ["0", "26", "many"])
def test_a_page_size_key_vault_does_not_allow_is_a_400(vault, secrets, maxresults):
    secrets.set_secret("database-url", OLD_URL)
    answer = vault.get("/secrets/database-url/versions", params={**API, "maxresults": maxresults})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadParameter"


def test_a_disabled_newest_version_is_a_403_and_never_falls_back_to_the_previous_one(secrets, vault):
    previous = secrets.set_secret("database-url", OLD_URL).properties.version
    newest = secrets.set_secret("database-url", NEW_URL).properties.version
    updated = secrets.update_secret_properties("database-url", newest, enabled=False)
    assert updated.enabled is False and updated.version == newest
    with pytest.raises(HttpResponseError) as refused:
        secrets.get_secret("database-url")
    assert refused.value.status_code == 403
    body = vault.get("/secrets/database-url/", params=API).json()
    assert body["error"]["code"] == "Forbidden" and body["error"]["innererror"]["code"] == "SecretDisabled"
    with pytest.raises(HttpResponseError, match="disabled"):
        secrets.get_secret("database-url", newest)
    assert secrets.get_secret("database-url", previous).value == OLD_URL  # read by its id, it still serves
    enabled = {p.version: p.enabled for p in secrets.list_properties_of_secret_versions("database-url")}
    assert enabled == {previous: True, newest: False}
    secrets.update_secret_properties("database-url", newest, enabled=True)
    assert secrets.get_secret("database-url").value == NEW_URL


def test_an_update_changes_properties_never_the_value(secrets, vault):
    version = secrets.set_secret("database-url", OLD_URL).properties.version
    answer = vault.patch(f"/secrets/database-url/{version}", params=API,
                         json={"tags": {"incident": "inc-1"}, "value": NEW_URL})
    assert answer.status_code == 200 and "value" not in answer.json() and answer.json()["tags"] == {"incident": "inc-1"}
    assert secrets.get_secret("database-url").value == OLD_URL


def test_a_deleted_secret_is_recoverable_and_its_name_cannot_be_reused_until_purged(secrets, vault):
    first = secrets.set_secret("database-url", OLD_URL).properties.version
    secrets.set_secret("database-url", NEW_URL)
    deleted = secrets.begin_delete_secret("database-url").result()
    assert deleted.recovery_id.endswith("/deletedsecrets/database-url") and deleted.scheduled_purge_date
    with pytest.raises(ResourceExistsError) as conflict:
        secrets.set_secret("database-url", NEW_URL)
    assert conflict.value.status_code == 409
    body = vault.put("/secrets/database-url", params=API, json={"value": NEW_URL}).json()
    assert body["error"]["innererror"]["code"] == "ObjectIsDeletedButRecoverable"
    assert "deleted but recoverable" in body["error"]["message"]
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret("database-url")
    assert secrets.get_deleted_secret("database-url").name == "database-url"
    secrets.begin_recover_deleted_secret("database-url").result()
    assert secrets.get_secret("database-url").value == NEW_URL
    assert secrets.get_secret("database-url", first).value == OLD_URL  # recovered with every version
    secrets.begin_delete_secret("database-url").result()
    secrets.purge_deleted_secret("database-url")
    fresh = secrets.set_secret("database-url", OLD_URL)
    assert [p.version for p in secrets.list_properties_of_secret_versions("database-url")] == [fresh.properties.version]


def test_the_first_request_is_challenged_without_its_body_as_the_sdk_expects(emulator, secrets):
    secrets.set_secret("database-url", OLD_URL)
    puts = [r for r in emulator.recorder.requests if r.server == "keyvault" and r.method == "PUT"]
    assert "Authorization" not in puts[0].headers and puts[0].body is None  # answered 401 with the challenge
    assert puts[1].headers["Authorization"] == "Bearer emulator-token" and puts[1].body == {"value": OLD_URL}


async def test_the_aio_client_reads_versions_the_same_way(emulator, clock):
    from azure.keyvault.secrets.aio import SecretClient

    async with SecretClient(emulator.vault_url, AsyncEmulatorToken(), connection_verify=emulator.ca_path,
                            verify_challenge_resource=False, retry_total=0) as client:
        old = await client.set_secret("database-url", OLD_URL)
        await client.set_secret("database-url", NEW_URL)
        versions = [p async for p in client.list_properties_of_secret_versions("database-url")]
        newest = max(versions, key=lambda p: p.created_on)
        assert (await client.get_secret("database-url", newest.version)).value == NEW_URL
        assert (await client.get_secret("database-url", old.properties.version)).value == OLD_URL
