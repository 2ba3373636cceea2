"""Storage that hangs or is gone must fail a call within the alert webhook's budget (Azure Monitor waits 10 s):
the real table and queue clients with the app's default timeouts and retries, against a server that accepts
connections and never answers, and against a closed port."""

from __future__ import annotations

import asyncio
import re

import pytest

from shared.store import tables
from shared.errors import StoreError
from shared.store.queue import RunQueue
from shared.store.storage import StorageAccount, StorageConnection, StoragePolicy
from local.processes import free_port
from tests.support.silent import SilentServer

HANG_GUARD = 12.0  # not a speed target: only keeps a regression from hanging the suite for minutes


def pointing(connection_string: str, service: str, port: int) -> StorageAccount:
    """Azurite's connection string with one service's endpoint moved to 127.0.0.1:`port`, default policy."""
    endpoint = f"{service.capitalize()}Endpoint"
    moved = re.sub(rf"{endpoint}=[^;]+", f"{endpoint}=http://127.0.0.1:{port}/devstoreaccount1", connection_string)
    return StorageAccount(StorageConnection(connection_string=moved))


async def fails_in_time(call) -> StoreError:
    with pytest.raises(StoreError) as caught:
        await asyncio.wait_for(call, HANG_GUARD)
    return caught.value


async def test_an_unanswering_queue_and_table_endpoint_fail_within_the_webhook_budget(azurite):
    with SilentServer() as queue_server, SilentServer() as table_server:
        queue = RunQueue(pointing(azurite.connection_string, "queue", queue_server.port), "runs-silent")
        table_set = tables.Tables(pointing(azurite.connection_string, "table", table_server.port), "tsilent")
        try:
            enqueue, create = await asyncio.gather(fails_in_time(queue.send("inc-20261125-000000000-abcdef", "x")),
                                                   fails_in_time(table_set.table("incidents")))
        finally:
            await queue.aclose()
            await table_set.aclose()
    assert "runs-silent" in str(enqueue) and "incidents" in str(create)
    attempts = StoragePolicy().retry_total + 1  # each attempt waits out its read timeout on a fresh connection
    assert queue_server.connections == attempts
    # azure-core retries no POST (create table, insert) after a read timeout: it may have been applied
    assert 1 <= table_server.connections <= attempts


async def test_a_closed_queue_port_fails_at_once_with_a_store_error(azurite):
    queue = RunQueue(pointing(azurite.connection_string, "queue", free_port()), "runs-closed")
    try:
        error = await fails_in_time(queue.send("inc-20261125-000000000-abcdef", "x"))
    finally:
        await queue.aclose()
    assert "runs-closed" in str(error)
