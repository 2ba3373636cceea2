"""Azure Table Storage adapter: the table clients, the conditional writes, and the translation of storage
errors into shared.errors' StoreError family. The only module of the store that imports azure.data.tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from shared.errors import EntityChanged, EntityExists, EntityMissing, StoreError, StoreRejected
from shared.store.storage import StorageAccount, store_failure

__all__ = ["EntityChanged", "EntityExists", "EntityMissing", "StoreError", "StoreRejected", "Tables"]


@contextlib.contextmanager
def _translated(what: str):
    try:
        yield
    except ResourceExistsError as error:
        raise EntityExists(f"{what}: already exists") from error
    except ResourceModifiedError as error:
        raise EntityChanged(f"{what}: changed by someone else") from error
    except ResourceNotFoundError as error:
        raise EntityMissing(f"{what}: not found") from error
    except HttpResponseError as error:
        if error.status_code == 412:
            raise EntityChanged(f"{what}: changed by someone else") from error
        raise store_failure(what, "table", error) from error
    except AzureError as error:
        raise store_failure(what, "table", error) from error


class Tables:
    """Table clients for one storage account, tables created on first use."""

    def __init__(self, storage: StorageAccount, prefix: str):
        self._service = storage.table_service()
        self._prefix = prefix
        self._clients: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()

    async def table(self, suffix: str) -> TableClient:
        client = self._clients.get(suffix)
        if client is not None:
            return client
        async with self._lock:
            if suffix not in self._clients:
                with _translated(f"create table {self._prefix}{suffix}"):
                    self._clients[suffix] = await self._service.create_table_if_not_exists(self._prefix + suffix)
            return self._clients[suffix]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()


async def insert(table: TableClient, entity: dict[str, Any]) -> str:
    with _translated(f"insert {entity['PartitionKey']}/{entity['RowKey']}"):
        result = await table.create_entity(entity)
    return result["etag"]


async def insert_together(table: TableClient, entities: list[dict[str, Any]]) -> list[str]:
    """Insert rows of one partition atomically: all of them, or none (EntityExists names the row that existed).
    Returns their ETags."""
    try:
        results = await table.submit_transaction([("create", entity) for entity in entities])
        return [result.get("etag") for result in results]
    except TableTransactionError as error:
        if error.error_code == "EntityAlreadyExists" or error.status_code == 409:
            index = _failed_index(error)
            raise EntityExists(f"row {index} of the transaction already exists", index) from error
        raise store_failure("transaction", "table", error) from error
    except AzureError as error:
        raise store_failure("transaction", "table", error) from error


def _failed_index(error: TableTransactionError) -> int | None:
    index = getattr(error, "index", None)
    if index is not None:
        return index
    head = str(error.message or "").split(":", 1)[0]
    return int(head) if head.isdigit() else None


async def get(table: TableClient, partition: str, row: str) -> dict[str, Any]:
    with _translated(f"read {partition}/{row}"):
        entity = await table.get_entity(partition, row)
    return _plain(entity)


async def get_or_none(table: TableClient, partition: str, row: str) -> dict[str, Any] | None:
    try:
        return await get(table, partition, row)
    except EntityMissing:
        return None


async def replace_if_unchanged(table: TableClient, entity: dict[str, Any], etag: str) -> str:
    with _translated(f"update {entity['PartitionKey']}/{entity['RowKey']}"):
        result = await table.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
    return result["etag"]


async def delete_if_unchanged(table: TableClient, partition: str, row: str, etag: str) -> None:
    with contextlib.suppress(EntityMissing), _translated(f"delete {partition}/{row}"):
        await table.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)


async def upsert(table: TableClient, entity: dict[str, Any]) -> None:
    with _translated(f"upsert {entity['PartitionKey']}/{entity['RowKey']}"):
        await table.upsert_entity(entity, mode=UpdateMode.REPLACE)


async def delete(table: TableClient, partition: str, row: str) -> None:
    with _translated(f"delete {partition}/{row}"):
        await table.delete_entity(partition, row)


async def delete_together(table: TableClient, keys: list[tuple[str, str]]) -> None:
    """Delete rows of one partition, 100 per transaction (Table Storage's limit); rows already gone are fine."""
    for start in range(0, len(keys), 100):
        chunk = keys[start:start + 100]
        try:
            await table.submit_transaction([("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in chunk])
        except TableTransactionError:  # one of them is gone already: delete the rest one by one
            for pk, rk in chunk:
                with contextlib.suppress(EntityMissing):
                    await delete(table, pk, rk)
        except AzureError as error:
            raise StoreError(f"transaction failed: table storage unreachable ({type(error).__name__})") from error


async def query(table: TableClient, filter_: str, parameters: dict[str, Any] | None = None,
                ) -> AsyncIterator[dict[str, Any]]:
    with _translated(f"query {filter_}"):
        async for entity in table.query_entities(filter_, parameters=parameters or {}):
            yield _plain(entity)


async def query_page(table: TableClient, filter_: str, parameters: dict[str, Any], page_size: int,
                     continuation: Any | None) -> tuple[list[dict[str, Any]], Any | None]:
    """`page_size` rows of a query from `continuation` on (fewer only at its end), and the token of the rest
    (None at the end).

    Table Storage may answer short, or empty, with a continuation token (at a partition boundary, after 5 s of
    server time): its tokens are followed until the page is full, each request asking only for the rows still
    missing, so the page never holds more than `page_size` and no row falls between two pages."""
    rows: list[dict[str, Any]] = []
    token = continuation
    with _translated(f"query {filter_}"):
        while True:
            pages = table.query_entities(filter_, parameters=parameters,
                                         results_per_page=page_size - len(rows)).by_page(continuation_token=token)
            rows += [_plain(entity) async for entity in await pages.__anext__()]
            token = pages.continuation_token
            if token is None or len(rows) >= page_size:
                return rows, token


def _plain(entity: Any) -> dict[str, Any]:
    row = dict(entity)
    row["_etag"] = entity.metadata["etag"]
    return row
