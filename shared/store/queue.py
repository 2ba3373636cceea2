"""The run queue: one message per incident run, carrying only the incident id (every run re-reads the record),
and, with a `job`, the side work about an incident that must never hold up its run (announcing its moments).

Messages are base64-encoded, the Functions host's default `messageEncoding` for queue triggers.
The storage queue SDK is imported on first use: it costs ~0.4 s to import and the alert intake's cold
start matters more than its first enqueue.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.store.storage import StorageAccount, store_failure


JOBS = frozenset({"moments"})


def encode(incident_id: str, reason: str, job: str | None = None) -> str:
    message = {"incident_id": incident_id, "reason": reason}
    if job is not None:
        message["job"] = job
    return json.dumps(message, separators=(",", ":"))


def decode(body: bytes | str) -> dict[str, Any]:
    """The message body as the trigger receives it (the host has already base64-decoded it)."""
    text = body.decode() if isinstance(body, bytes) else body
    message = json.loads(text)
    if not isinstance(message, dict) or not isinstance(message.get("incident_id"), str):
        raise ValueError("a run message is a JSON object with an 'incident_id' string")
    if message.get("job") is not None and message["job"] not in JOBS:
        raise ValueError(f"unknown job {message['job']!r} (known: {', '.join(sorted(JOBS))})")
    return message


class RunQueue:
    def __init__(self, storage: StorageAccount, name: str):
        self._storage, self.name = storage, name
        self._client = None
        self._lock = asyncio.Lock()

    async def _queue(self):
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from azure.core.exceptions import AzureError, ResourceExistsError
                from azure.storage.queue import TextBase64EncodePolicy

                client = self._storage.queue(self.name, message_encode_policy=TextBase64EncodePolicy())
                try:
                    await client.create_queue()
                except ResourceExistsError:
                    pass
                except AzureError as error:
                    await client.close()
                    raise store_failure(f"create queue {self.name}", "queue", error) from error
                self._client = client
        return self._client

    async def send(self, incident_id: str, reason: str, delay_seconds: float = 0, job: str | None = None) -> None:
        from azure.core.exceptions import AzureError

        client = await self._queue()
        try:
            await client.send_message(encode(incident_id, reason, job), visibility_timeout=int(delay_seconds) or None)
        except AzureError as error:
            raise store_failure(f"enqueue incident {incident_id} on {self.name}", "queue", error) from error

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
