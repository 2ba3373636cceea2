"""Drive the function app exactly as the Functions host does: build `azure.functions` request and message
objects, call the registered user functions, and deliver queue messages from Azurite (tests/support)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared import services
from local.localrun import FunctionTable, QueueOptions, QueuePump, storage_of


class AppHarness:
    def __init__(self, app: func.FunctionApp, env: dict[str, str]):
        self.env = env
        self.table = FunctionTable(app, env)
        self.functions = {route.name: route.function for route in self.table.http}
        self.functions.update({binding.name: binding.function for binding in self.table.queues})
        self.functions.update({timer.name: timer.function for timer in self.table.timers})
        options = QueueOptions(max_dequeue_count=5, visibility_timeout=0, max_polling_interval=0.1)
        self.storage = {binding.connection: storage_of(env, binding.connection) for binding in self.table.queues}
        self.pumps = [QueuePump(binding, self.storage[binding.connection], options) for binding in self.table.queues]

    @property
    def services(self) -> services.Services:
        return services.current()

    async def respond(self, function: str, method: str, path: str, body: bytes | str | Any = b"",
                      params: dict[str, str] | None = None, route_params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> func.HttpResponse:
        """The function's HttpResponse, headers and all."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        request = func.HttpRequest(method, f"http://localhost{path}", headers=headers or {}, params=params or {},
                                   route_params=route_params or {}, body=body)
        return await self.functions[function](request)

    async def call(self, function: str, method: str, path: str, body: bytes | str | Any = b"",
                   params: dict[str, str] | None = None, route_params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.respond(function, method, path, body, params, route_params, headers)
        text = response.get_body()
        return response.status_code, (json.loads(text) if text else None)

    async def post_alert(self, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self.call("receive_alert", "POST", "/api/alerts", payload, headers=headers)

    async def incident(self, incident_id: str) -> dict[str, Any]:
        status, body = await self.call("get_incident", "GET", f"/api/incidents/{incident_id}",
                                       route_params={"incident_id": incident_id})
        assert status == 200, body
        return body

    async def list_incidents(self, **params: str) -> tuple[int, Any]:
        return await self.call("list_incidents", "GET", "/api/incidents", params=params)

    async def drain(self, rounds: int = 50) -> int:
        """Deliver queued messages (run queue and poison queue) until none is visible; returns how many."""
        total = 0
        for _ in range(rounds):
            delivered = 0
            for pump in self.pumps:
                delivered += await pump.deliver_once()
            total += delivered
            if not delivered:
                return total
        raise AssertionError(f"queue did not drain within {rounds} rounds")

    async def aclose(self) -> None:
        for pump in self.pumps:
            await pump.aclose()
        for storage in self.storage.values():
            await storage.aclose()
        await services.current().aclose()
        services.forget()
