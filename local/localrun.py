"""A small local runner, for development only (in Azure, the Functions host does all of this).

Azure Functions Core Tools (`func start`) cannot be installed everywhere, so this serves the app's HTTP
triggers on 127.0.0.1 with aiohttp, fires its timers on their NCRONTAB schedules and delivers queue messages
(Azurite) to its queue triggers, retrying and poisoning them as host.json says. Everything is read from the
FunctionApp's own definitions (`app.get_functions()`), so no route, schedule or queue is listed twice.
Not implemented: function keys (like `func start`, it does not check them), other trigger types, scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import azure.functions as func

from shared.store.storage import StorageAccount, StorageConnection

log = logging.getLogger("responder.localrun")
_SETTING = re.compile(r"%([^%]+)%")
# How long a message being processed stays invisible before it is renewed (the host leases messages the same way;
# its default is 10 minutes). A runner that dies holding a message loses it for at most this long.
_LEASE_SECONDS = 30
_functions_of: dict[int, list[Any]] = {}  # app.get_functions() may be called only once per FunctionApp


def functions_of(app: func.FunctionApp) -> list[Any]:
    if id(app) not in _functions_of:
        _functions_of[id(app)] = app.get_functions()
    return _functions_of[id(app)]


def resolve(text: str, env: Mapping[str, str]) -> str:
    """The host's `%Setting%` binding expressions."""
    def setting(match: re.Match[str]) -> str:
        if match[1] not in env:
            raise KeyError(f"app setting {match[1]} (used as %{match[1]}%) is not set")
        return env[match[1]]

    return _SETTING.sub(setting, text)


def storage_of(env: Mapping[str, str], connection: str) -> StorageAccount:
    """The storage account a queue trigger's `connection` names, read as the host reads it (a connection
    string, or `<connection>__accountName` / `__queueServiceUri` with an identity), with the app's timeouts."""
    from shared.config import Settings

    found = StorageConnection.from_env(env, connection)
    problems = found.problems()
    if problems:
        raise KeyError(f"queue trigger connection {connection!r}: {'; '.join(problems)}")
    return StorageAccount.for_settings(Settings.from_env(env), found)


async def invoke(function: Callable[..., Any], argument: Any) -> Any:
    result = function(argument)
    return await result if inspect.isawaitable(result) else result


@dataclass
class HttpRoute:
    name: str
    template: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    function: Callable[..., Any]

    @classmethod
    def of(cls, fn: Any, route: str, methods: list[str]) -> HttpRoute:
        regex = ""
        for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", route):
            regex += re.escape(literal)
            if name:
                key, optional = name.split(":")[0].rstrip("?"), name.endswith("?")
                regex += f"(?P<{key}>[^/]+)" + ("?" if optional else "")
        return cls(fn.get_function_name(), f"/api/{route}", frozenset(m.upper() for m in methods),
                   re.compile(f"^/api/{regex}/?$"), fn.get_user_function())


@dataclass
class QueueBinding:
    name: str
    queue: str
    connection: str
    function: Callable[..., Any]


@dataclass
class TimerBinding:
    name: str
    schedule: str
    run_on_startup: bool
    function: Callable[..., Any]


class FunctionTable:
    """The app's triggers, read from its FunctionApp."""

    def __init__(self, app: func.FunctionApp, env: Mapping[str, str]):
        self.http: list[HttpRoute] = []
        self.queues: list[QueueBinding] = []
        self.timers: list[TimerBinding] = []
        for fn in functions_of(app):
            trigger = fn.get_trigger()
            kind = type(trigger).__name__
            if kind == "HttpTrigger":
                methods = [str(getattr(m, "value", m)) for m in (trigger.methods or ["GET", "POST"])]
                self.http.append(HttpRoute.of(fn, trigger.route or fn.get_function_name(), methods))
            elif kind == "QueueTrigger":
                self.queues.append(QueueBinding(fn.get_function_name(), resolve(trigger.queue_name, env),
                                                trigger.connection, fn.get_user_function()))
            elif kind == "TimerTrigger":
                self.timers.append(TimerBinding(fn.get_function_name(), resolve(trigger.schedule, env),
                                                bool(trigger.run_on_startup), fn.get_user_function()))
            else:
                log.warning("local runner ignores %s (%s trigger)", fn.get_function_name(), kind)

    def match(self, method: str, path: str) -> tuple[HttpRoute | None, dict[str, str], bool]:
        """(route, route params, path known for another method)."""
        known = False
        for route in self.http:
            found = route.pattern.match(path)
            if found:
                if method.upper() in route.methods:
                    return route, {k: v for k, v in found.groupdict().items() if v is not None}, True
                known = True
        return None, {}, known


@dataclass(frozen=True)
class QueueOptions:
    """The host.json `extensions.queues` settings the runner honours."""

    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0
    batch_size: int = 16

    @classmethod
    def from_host_json(cls, path: Path) -> QueueOptions:
        queues = json.loads(path.read_text()).get("extensions", {}).get("queues", {})
        return cls(max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
                   visibility_timeout=_timespan(queues.get("visibilityTimeout", "00:00:00")),
                   max_polling_interval=_timespan(queues.get("maxPollingInterval", "00:00:02")),
                   batch_size=int(queues.get("batchSize", 16)))


def _timespan(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class QueuePump:
    """Deliver one queue's messages to its trigger like the host: delete on success; on failure make the
    message visible again after visibilityTimeout; after maxDequeueCount, move it to `<queue>-poison`."""

    def __init__(self, binding: QueueBinding, storage: StorageAccount, options: QueueOptions):
        from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy

        self.binding, self.options = binding, options
        codecs = dict(message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy())
        self._queue = storage.queue(binding.queue, **codecs)
        self._poison = storage.queue(f"{binding.queue}-poison", **codecs)
        self._created = False
        self.invocations: list[float] = []  # seconds each delivery took (benchmarks read it)

    async def _ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        if not self._created:
            for client in (self._queue, self._poison):
                try:
                    await client.create_queue()
                except ResourceExistsError:
                    pass
            self._created = True

    async def deliver_once(self) -> int:
        """Receive one batch and deliver its messages side by side, as the host does; returns how many."""
        await self._ensure()
        batch = [m async for m in self._queue.receive_messages(max_messages=self.options.batch_size,
                                                                  visibility_timeout=_LEASE_SECONDS)]
        await asyncio.gather(*(self._deliver(message) for message in batch))
        return len(batch)

    async def _deliver(self, message) -> None:
        """One message, as the host delivers it: invisible to others while the function runs (the lease is
        renewed, so a crashed runner's message is visible again within _LEASE_SECONDS), deleted on success,
        made visible again after visibilityTimeout on failure, poisoned after maxDequeueCount."""
        from azure.functions.queue import QueueMessage

        body = message.content if isinstance(message.content, bytes) else str(message.content).encode()
        argument = QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count,
                                pop_receipt=message.pop_receipt, insertion_time=message.inserted_on,
                                expiration_time=message.expires_on)
        receipt = {"pop": message.pop_receipt}

        async def keep_leased() -> None:
            while True:
                await asyncio.sleep(_LEASE_SECONDS / 3)
                updated = await self._queue.update_message(message.id, pop_receipt=receipt["pop"],
                                                           visibility_timeout=_LEASE_SECONDS)
                receipt["pop"] = updated.pop_receipt

        renewing = asyncio.create_task(keep_leased())
        started = time.monotonic()
        try:
            await invoke(self.binding.function, argument)
        except Exception:
            failed = True
            log.exception("%s failed on message %s (delivery %s)", self.binding.name, message.id,
                          message.dequeue_count)
        else:
            failed = False
        finally:
            self.invocations.append(time.monotonic() - started)
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if not failed:
            await self._queue.delete_message(message.id, receipt["pop"])
        elif message.dequeue_count >= self.options.max_dequeue_count:
            await self._poison.send_message(body.decode())
            await self._queue.delete_message(message.id, receipt["pop"])
        else:
            await self._queue.update_message(message.id, pop_receipt=receipt["pop"],
                                             visibility_timeout=int(self.options.visibility_timeout))

    async def run(self, stop: asyncio.Event) -> None:
        idle = 0.05
        while not stop.is_set():
            try:
                delivered = await self.deliver_once()
            except Exception:
                log.exception("queue %s: polling failed", self.binding.queue)
                delivered = 0
            idle = 0.05 if delivered else min(idle * 1.5, self.options.max_polling_interval)
            if not delivered:
                try:
                    await asyncio.wait_for(stop.wait(), idle)
                except asyncio.TimeoutError:
                    pass

    async def aclose(self) -> None:
        await self._queue.close()
        await self._poison.close()


async def run_timer(binding: TimerBinding, stop: asyncio.Event) -> None:
    """Fire the timer on its six-field NCRONTAB schedule (seconds first)."""
    from azure.functions.timer import TimerRequest
    from croniter import croniter

    if binding.run_on_startup:
        await _fire(binding, TimerRequest(past_due=False))
    schedule = croniter(binding.schedule, datetime.now(timezone.utc), second_at_beginning=True)
    while not stop.is_set():
        due = schedule.get_next(datetime)
        wait = (due - datetime.now(timezone.utc)).total_seconds()
        try:
            await asyncio.wait_for(stop.wait(), max(wait, 0))
            return
        except asyncio.TimeoutError:
            await _fire(binding, TimerRequest(past_due=False))


async def _fire(binding: TimerBinding, request: Any) -> None:
    try:
        await invoke(binding.function, request)
    except Exception:
        log.exception("timer %s failed", binding.name)


def http_app(table: FunctionTable):
    """An aiohttp application that serves the HTTP triggers under /api."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        route, params, known = table.match(request.method, request.path)
        if route is None:
            status = 405 if known else 404
            return web.json_response({"error": "method_not_allowed" if known else "not_found",
                                      "message": f"no function serves {request.method} {request.path}"},
                                     status=status)
        body = await request.read()
        req = func.HttpRequest(request.method, str(request.url), headers=dict(request.headers),
                               params=dict(request.query), route_params=params, body=body)
        response = await invoke(route.function, req)
        headers = dict(response.headers)
        if response.mimetype and "content-type" not in {k.lower() for k in headers}:
            headers["Content-Type"] = f"{response.mimetype}; charset={response.charset or 'utf-8'}"
        return web.Response(status=response.status_code, body=response.get_body(), headers=headers)

    app = web.Application(client_max_size=100 * 1024 * 1024)  # the host's limit; the app enforces its own
    app.router.add_route("*", r"/{tail:[\s\S]*}", handle)  # any path, even with encoded newlines
    return app


class LocalRunner:
    """HTTP + timers + queue pumps for one FunctionApp, in the running event loop."""

    def __init__(self, app: func.FunctionApp, env: Mapping[str, str] | None = None, host_json: Path | None = None,
                 port: int = 7071, timers: bool = True):
        self.env = dict(os.environ if env is None else env)
        self.table = FunctionTable(app, self.env)
        self.options = QueueOptions.from_host_json(host_json or Path(__file__).resolve().parent.parent / "host.json")
        self.port, self.timers = port, timers
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pumps: list[QueuePump] = []
        self._storage: dict[str, StorageAccount] = {}
        self._site = None
        self._runner = None

    async def start(self) -> int:
        from aiohttp import web

        self._runner = web.AppRunner(http_app(self.table), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self._runner.addresses[0][1]
        for binding in self.table.queues:
            pump = QueuePump(binding, self._storage_of(binding.connection), self.options)
            self._pumps.append(pump)
            self._tasks.append(asyncio.create_task(pump.run(self._stop), name=f"queue {binding.queue}"))
        if self.timers:
            for timer in self.table.timers:
                self._tasks.append(asyncio.create_task(run_timer(timer, self._stop), name=f"timer {timer.name}"))
        return self.port

    def _storage_of(self, connection: str) -> StorageAccount:
        """The storage a trigger's `connection` names, in either form the host accepts (one per connection)."""
        if connection not in self._storage:
            self._storage[connection] = storage_of(self.env, connection)
        return self._storage[connection]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pump in self._pumps:
            await pump.aclose()
        for storage in self._storage.values():
            await storage.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
        from shared import services  # what the host does when it recycles an instance

        await services.current().aclose()
        services.forget()
