"""The PostgreSQL flexible server emulator answers as Azure does (the official examples' shapes, ARM's errors, the
202-only create and its long-running-operation protocol, 409 while an operation runs), driven by the real
PostgreSQLManagementClient (sync and aio), and its restore is real: psycopg reads the restored database, which
holds the writes before the restore point and none after."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from local.emulator import RESOURCE_GROUP, SUBSCRIPTION, Emulator
from local.emulator.postgres import PostgresScenario
from tests.support.credentials import AsyncEmulatorToken, EmulatorToken
from tests.support.shapes import assert_conforms, official

SOURCE = "augeo-production-db"
PASSWORD = "Pg-pa55word-for-tests"
SEED = ("CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL);"
        "INSERT INTO orders VALUES (1, 'written before the incident')")
SERVERS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers"
SDK_VERSION = "2026-10-01"


@pytest.fixture(scope="module")
def shared_emulator():
    """One emulator (and one real source server) for the module: adding a server costs a real initdb."""
    with Emulator() as emu:
        emu.add_postgres_server(SOURCE, password=PASSWORD, sql=SEED)
        yield emu


@pytest.fixture
def emu(shared_emulator):
    shared_emulator.postgres.scenario = PostgresScenario(restore_seconds=0)  # the real copy's time is enough
    shared_emulator.recorder.faults.clear()
    yield shared_emulator
    shared_emulator.postgres.scenario = PostgresScenario()  # lets a test's pending restores finish


@pytest.fixture
def source(emu):
    return emu.postgres.server(SOURCE)


@pytest.fixture
def client(emu):
    from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

    with PostgreSQLManagementClient(EmulatorToken(), SUBSCRIPTION, base_url=emu.arm_url,
                                    connection_verify=emu.ca_path, polling_interval=0.05, retry_total=0) as sdk:
        yield sdk


@pytest.fixture
def arm(emu):
    with httpx.Client(base_url=emu.arm_url, verify=ssl.create_default_context(cafile=emu.ca_path),
                      headers={"Authorization": "Bearer emulator-token"}) as http:
        yield http


def restore_body(source, point: datetime, location: str = "eastus") -> dict:
    return {"location": location, "properties": {"createMode": "PointInTimeRestore",
                                                 "sourceServerResourceId": source.id,
                                                 "pointInTimeUTC": point.isoformat()}}


def rows(server, password: str = PASSWORD) -> list[tuple]:
    """The orders as the app would read them: psycopg over TCP with the administrator login and password."""
    with psycopg.connect(server.url("augeo", "augeoadmin", password), connect_timeout=5) as connection:
        return connection.execute("SELECT id, note FROM orders ORDER BY id").fetchall()


def now() -> datetime:
    return datetime.now(timezone.utc)


# ----- shapes ----------------------------------------------------------------------------------------------
def test_server_list_and_backups_have_the_official_examples_shape(arm, source):
    params = {"api-version": SDK_VERSION}
    server = arm.get(f"{SERVERS}/{SOURCE}", params=params).json()
    assert_conforms(server, official("Servers_Get.json"), extras={"tags"})
    assert server["properties"]["state"] == "Ready" and server["type"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    listing = arm.get(SERVERS, params=params).json()
    assert set(listing) == {"value"} and SOURCE in [s["name"] for s in listing["value"]]
    # The second server of the example is, like ours, on public access (the first is in a VNet).
    assert_conforms(listing["value"][0], official("Servers_ListByResourceGroup.json")["value"][1])
    backups = arm.get(f"{SERVERS}/{SOURCE}/backups", params=params).json()
    assert_conforms(backups["value"][-1], official("BackupsAutomaticAndOnDemand_ListByServer.json")["value"][0])
    one = arm.get(f"{SERVERS}/{SOURCE}/backups/{backups['value'][-1]['name']}", params=params)
    assert one.status_code == 200 and one.json() == backups["value"][-1]
    assert_conforms(one.json(), official("BackupsAutomaticAndOnDemand_Get.json"))
    assert arm.get(f"{SERVERS}/{SOURCE}/backups/backup_1", params=params).status_code == 404


def test_the_sdk_reads_the_server_its_restore_window_and_backups(client, source):
    server = client.servers.get(RESOURCE_GROUP, SOURCE)
    assert server.state == "Ready" and server.location == "eastus" and server.version == "15"
    assert server.fully_qualified_domain_name == source.address and source.address.startswith("127.")
    earliest = server.backup.earliest_restore_date
    assert now() - timedelta(days=7, minutes=1) < earliest < now() - timedelta(days=6)  # 7 days kept
    backups = list(client.backups_automatic_and_on_demand.list_by_server(RESOURCE_GROUP, SOURCE))
    assert {b.backup_type for b in backups} == {"Full"} and all(b.completed_time >= earliest - timedelta(days=1)
                                                                for b in backups)
    assert max(b.completed_time for b in backups) > now() - timedelta(minutes=10)
    assert [s.name for s in client.servers.list_by_subscription() if s.name == SOURCE] == [SOURCE]
    # The server is a real database, reached with its FQDN, the administrator login and its password.
    assert rows(source) == [(1, "written before the incident")]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        rows(source, password="not-the-password")


@pytest.mark.parametrize(("headers", "version", "status", "code"), [
    ({}, SDK_VERSION, 401, "AuthenticationFailed"),
    ({"Authorization": "Bearer emulator-token"}, None, 400, "MissingApiVersionParameter"),
    ({"Authorization": "Bearer emulator-token"}, "2021-06-01", 400, "NoRegisteredProviderFound"),  # azure-mgmt-rdbms's
    ({"Authorization": "Bearer emulator-token"}, "1999-01-01", 400, "NoRegisteredProviderFound"),
])
def test_arm_refuses_a_missing_token_and_api_versions_it_does_not_serve(emu, source, headers, version, status, code):
    with httpx.Client(verify=ssl.create_default_context(cafile=emu.ca_path)) as http:
        answer = http.get(f"{emu.arm_url}{SERVERS}/{SOURCE}", headers=headers,
                          params={"api-version": version} if version else {})
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    if code == "NoRegisteredProviderFound":
        assert "2026-10-01" in answer.json()["error"]["message"]


def test_the_spec_api_version_is_served_too(arm, source):
    assert arm.get(f"{SERVERS}/{SOURCE}", params={"api-version": "2025-08-01"}).status_code == 200


def test_an_unknown_server_is_resource_not_found(client):
    with pytest.raises(ResourceNotFoundError, match="ResourceNotFound"):
        client.servers.get(RESOURCE_GROUP, "no-such-server")


# ----- the restore's long-running operation ----------------------------------------------------------------
def test_restore_answers_202_with_both_polling_urls_and_the_status_resource_follows_it(emu, arm, source):
    emu.postgres.scenario.restore_seconds = None  # in Provisioning until the test says
    answer = arm.put(f"{SERVERS}/lro-shape", params={"api-version": SDK_VERSION},
                     json=restore_body(source, now() - timedelta(hours=1)))
    assert answer.status_code == 202 and answer.content == b"" and "Retry-After" not in answer.headers
    status_url, location = answer.headers["Azure-AsyncOperation"], answer.headers["Location"]
    base = f"{emu.arm_url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/eastus/"
    assert status_url.startswith(base + "azureAsyncOperation/") and location.startswith(base + "operationResults/")
    running = arm.get(status_url).json()
    assert running["status"] == "InProgress" and running["name"] and running["startTime"] and "endTime" not in running
    assert arm.get(location).status_code == 202
    server = arm.get(f"{SERVERS}/lro-shape", params={"api-version": SDK_VERSION}).json()
    assert server["properties"]["state"] == "Provisioning" and "earliestRestoreDate" not in server["properties"]
    assert arm.get(f"{SERVERS}/lro-shape/backups", params={"api-version": SDK_VERSION}).json() == {"value": []}
    emu.postgres.finish_restore("lro-shape")
    emu.postgres.wait("lro-shape")
    done = arm.get(status_url).json()
    assert done["status"] == "Succeeded" and done["endTime"] >= done["startTime"]
    final = arm.get(location)
    assert final.status_code == 200 and final.json()["properties"]["state"] == "Ready"


def test_retry_after_is_sent_only_when_a_scenario_sets_it(emu, arm, source):
    emu.postgres.scenario.restore_seconds, emu.postgres.scenario.retry_after = None, "1"
    answer = arm.put(f"{SERVERS}/lro-retry-after", params={"api-version": SDK_VERSION},
                     json=restore_body(source, now() - timedelta(hours=1)))
    assert answer.headers["Retry-After"] == "1"
    assert arm.get(answer.headers["Azure-AsyncOperation"]).headers["Retry-After"] == "1"
    emu.postgres.finish_restore("lro-retry-after")
    emu.postgres.wait("lro-retry-after")


def test_a_restore_through_the_sdk_is_real_up_to_the_restore_point(emu, client, source):
    source.execute("INSERT INTO orders VALUES (2, 'written before the restore point')", database="augeo")
    point = now()
    source.execute("INSERT INTO orders VALUES (3, 'written after the restore point: lost')", database="augeo")
    emu.postgres.scenario.restore_seconds = None
    poller = client.servers.begin_create_or_update(RESOURCE_GROUP, "augeo-production-db-restored",
                                                   restore_body(source, point))
    provisioning = client.servers.get(RESOURCE_GROUP, "augeo-production-db-restored")
    assert provisioning.state == "Provisioning" and not poller.done()
    emu.postgres.finish_restore("augeo-production-db-restored")
    restored = poller.result()
    assert restored.state == "Ready" and restored.fully_qualified_domain_name != source.address
    puts = emu.requests("PUT", r"/flexibleServers/augeo-production-db-restored$")
    assert len(puts) == 1 and puts[0].body == restore_body(source, point)
    server = emu.postgres.server("augeo-production-db-restored")
    # Same port, user, database and password: only the host of the connection string changed.
    assert server.url("augeo", "augeoadmin", PASSWORD) == source.url("augeo", "augeoadmin", PASSWORD).replace(
        source.address, server.address)
    assert rows(server) == [(1, "written before the incident"), (2, "written before the restore point")]
    assert (3, "written after the restore point: lost") in rows(source)
    # The new server is a server like any: its own backups and restore window, from its creation on.
    assert restored.backup.earliest_restore_date > point
    assert len(list(client.backups_automatic_and_on_demand.list_by_server(RESOURCE_GROUP, server.name))) == 1
    assert restored.source_server_resource_id == source.id


def test_a_restore_point_in_the_claimed_past_gives_the_data_the_server_was_added_with(emu, client, source):
    source.execute("INSERT INTO orders VALUES (40, 'written today') ON CONFLICT DO NOTHING", database="augeo")
    point = now() - timedelta(days=3)
    restored = client.servers.begin_create_or_update(RESOURCE_GROUP, "restored-three-days-back",
                                                     restore_body(source, point)).result()
    assert restored.state == "Ready"
    assert rows(emu.postgres.server("restored-three-days-back")) == [(1, "written before the incident")]


def test_a_fast_restore_to_a_full_backups_completed_time(emu, client, source):
    newest = max(client.backups_automatic_and_on_demand.list_by_server(RESOURCE_GROUP, SOURCE),
                 key=lambda backup: backup.completed_time)
    restored = client.servers.begin_create_or_update(RESOURCE_GROUP, "restored-from-full-backup",
                                                     restore_body(source, newest.completed_time)).result()
    assert restored.state == "Ready"
    assert (1, "written before the incident") in rows(emu.postgres.server("restored-from-full-backup"))


async def test_an_aio_poller_resumes_from_its_continuation_token_in_another_client(emu, source):
    from azure.mgmt.postgresqlflexibleservers.aio import PostgreSQLManagementClient

    emu.postgres.scenario.restore_seconds = None
    options = dict(base_url=emu.arm_url, connection_verify=emu.ca_path, polling_interval=0.05, retry_total=0)
    async with PostgreSQLManagementClient(AsyncEmulatorToken(), SUBSCRIPTION, **options) as first:
        poller = await first.servers.begin_create_or_update(RESOURCE_GROUP, "resumed-restore",
                                                            restore_body(source, now() - timedelta(hours=2)))
        token = poller.continuation_token()
    emu.postgres.finish_restore("resumed-restore")
    async with PostgreSQLManagementClient(AsyncEmulatorToken(), SUBSCRIPTION, **options) as second:
        resumed = await second.servers.begin_create_or_update(RESOURCE_GROUP, "resumed-restore", None,
                                                              continuation_token=token)
        restored = await resumed.result()
    assert restored.state == "Ready" and restored.name == "resumed-restore"
    assert len(emu.requests("PUT", r"/flexibleServers/resumed-restore$")) == 1  # resuming asked nothing again


# ----- refusals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("offset", "what"), [(timedelta(days=-8), "before"), (timedelta(minutes=5), "after")])
def test_a_restore_point_outside_the_window_is_a_400_naming_the_window(emu, client, source, offset, what):
    with pytest.raises(HttpResponseError) as refused:
        client.servers.begin_create_or_update(RESOURCE_GROUP, f"outside-window-{what}",
                                              restore_body(source, now() + offset))
    assert refused.value.status_code == 400 and refused.value.error.code == "InvalidPointInTimeRestoreTime"
    earliest = client.servers.get(RESOURCE_GROUP, SOURCE).backup.earliest_restore_date
    assert earliest.strftime("%Y-%m-%dT%H:%M") in refused.value.message and "(now)" in refused.value.message
    with pytest.raises(ResourceNotFoundError):
        client.servers.get(RESOURCE_GROUP, f"outside-window-{what}")


@pytest.mark.parametrize(("name", "change", "status", "code"), [
    ("Upper-Case", {}, 400, "InvalidServerName"),
    ("-leading-hyphen", {}, 400, "InvalidServerName"),
    ("x" * 64, {}, 400, "InvalidServerName"),
    ("wrong-region", {"location": "westeurope"}, 400, "InvalidLocation"),
    ("no-point", {"pointInTimeUTC": None}, 400, "MissingRequiredProperty"),
    ("no-offset", {"pointInTimeUTC": "2026-01-01T10:00:00"}, 400, "InvalidParameterValue"),
    ("plain-create", {"createMode": "Create"}, 400, "UnsupportedCreateMode"),
    ("unknown-source", {"sourceServerResourceId": f"{SERVERS}/no-such-source"}, 404, "ResourceNotFound"),
])
def test_restore_requests_azure_would_refuse_are_refused(arm, source, name, change, status, code):
    body = restore_body(source, now() - timedelta(hours=1))
    if "location" in change:
        body["location"] = change.pop("location")
    body["properties"].update(change)
    body["properties"] = {k: v for k, v in body["properties"].items() if v is not None}
    answer = arm.put(f"{SERVERS}/{name}", params={"api-version": SDK_VERSION}, json=body)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
    assert arm.get(f"{SERVERS}/{name}", params={"api-version": SDK_VERSION}).status_code in (400, 404)


def test_a_name_in_use_is_a_409_and_so_is_a_second_put_or_a_delete_while_the_restore_runs(emu, client, arm, source):
    with pytest.raises(HttpResponseError) as taken:
        client.servers.begin_create_or_update(RESOURCE_GROUP, SOURCE, restore_body(source, now() - timedelta(hours=1)))
    assert taken.value.status_code == 409 and taken.value.error.code == "ServerNameAlreadyExists"
    emu.postgres.scenario.restore_seconds = None
    body = restore_body(source, now() - timedelta(hours=1))
    first = arm.put(f"{SERVERS}/busy-restore", params={"api-version": SDK_VERSION}, json=body)
    assert first.status_code == 202
    again = arm.put(f"{SERVERS}/busy-restore", params={"api-version": SDK_VERSION}, json=body)
    delete = arm.delete(f"{SERVERS}/busy-restore", params={"api-version": SDK_VERSION})
    for answer in (again, delete):
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "OperationInProgress"
        assert "Retry after it completes" in answer.json()["error"]["message"]
    emu.postgres.finish_restore("busy-restore")
    emu.postgres.wait("busy-restore")
    # Done: the same PUT again is not a second restore, it is a name in use.
    assert arm.put(f"{SERVERS}/busy-restore", params={"api-version": SDK_VERSION}, json=body).status_code == 409
    assert len(emu.postgres.servers) == len({s.lower() for s in emu.postgres.servers})


def test_a_restore_that_fails_ends_failed_with_its_error_and_leaves_no_server(emu, client, arm, source):
    emu.postgres.fail_next_restore(code="RestoreFailed", message="The restore of the server failed: WAL missing.")
    poller = client.servers.begin_create_or_update(RESOURCE_GROUP, "restore-that-fails",
                                                   restore_body(source, now() - timedelta(hours=1)))
    with pytest.raises(HttpResponseError, match="failed") as failed:
        poller.result()
    status = failed.value.response.json()
    assert status["status"] == "Failed" and status["error"] == {
        "code": "RestoreFailed", "message": "The restore of the server failed: WAL missing."}
    with pytest.raises(ResourceNotFoundError):
        client.servers.get(RESOURCE_GROUP, "restore-that-fails")
    # The failure was for one restore: asking again (the name is free) restores.
    again = client.servers.begin_create_or_update(RESOURCE_GROUP, "restore-that-fails",
                                                  restore_body(source, now() - timedelta(hours=1))).result()
    assert again.state == "Ready"


def test_delete_is_a_long_running_operation_and_the_server_is_gone_after_it(emu, client, source):
    client.servers.begin_create_or_update(RESOURCE_GROUP, "restored-then-deleted",
                                          restore_body(source, now() - timedelta(hours=1))).result()
    server = emu.postgres.server("restored-then-deleted")
    client.servers.begin_delete(RESOURCE_GROUP, "restored-then-deleted").result()
    with pytest.raises(ResourceNotFoundError):
        client.servers.get(RESOURCE_GROUP, "restored-then-deleted")
    with pytest.raises(psycopg.OperationalError):
        rows(server)
    assert emu.requests("DELETE", r"/restored-then-deleted$")


def test_lists_are_pagers_the_sdk_follows(emu, client, source):
    emu.postgres.scenario.page_size = 1
    names = [s.name for s in client.servers.list_by_resource_group(RESOURCE_GROUP)]
    assert SOURCE in names and len(names) == len(set(names)) == len(
        [s for s in emu.postgres.servers.values() if s.resource_group == RESOURCE_GROUP])
    before = len(emu.requests("GET", rf"/{SOURCE}/backups$"))
    backups = list(client.backups_automatic_and_on_demand.list_by_server(RESOURCE_GROUP, SOURCE))
    assert len(backups) > 1 and len(emu.requests("GET", rf"/{SOURCE}/backups$")) - before == len(backups)  # a page each
