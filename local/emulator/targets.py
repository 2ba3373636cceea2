"""Health targets for the sweeps: hundreds of HTTPS (and plain HTTP) endpoints served by one asyncio loop, each
answering healthy, failing with a status, hanging, slowly, on a schedule, or with a body the check must match,
to HEAD and GET alike; and a frontend (Static Web App) stand-in that answers `HEAD /` and reports its version.

One server (aiohttp's low-level one, in a thread of its own) serves every target on one HTTPS and one HTTP port,
by path: `https://127.0.0.1:<port>/t/<name>/health`. A target that must own its origin (a frontend checked at
`HEAD /`) gets a port of its own on the same loop. A hanging target holds no thread: its request waits on the
loop until the client gives up (aiohttp cancels the handler when the connection closes) or the pool stops.

    pool = emulator.targets
    api = pool.add("api-1")                                  # /health and /health/detailed answer 200
    stuck = pool.add("api-2", HANG)
    flappy = pool.add("api-3", Schedule([healthy(), failing(503), failing(503)]))
    web = pool.add_frontend("web", version="v3.4.5")         # HEAD / -> 200, GET /version.json -> {"version"}
    httpx.get(api.url + "/health")
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

BACKEND_PATHS = ("/health", "/health/detailed")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SHARED = re.compile(r"^/t/(?P<name>[^/]+)(?P<path>/.*)?$")


@dataclass(frozen=True)
class Answer:
    """One answer: a status, a body (a dict or list is sent as JSON, str or bytes as they are, None: empty),
    extra headers, and how long to wait before answering."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "healthy"})
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Hang:
    """Never answers: the request waits until the client gives up or the pool stops."""

    def __repr__(self) -> str:
        return "HANG"


HANG = Hang()


@dataclass
class Schedule:
    """Answers in turn, one per request to each path of the target (so a sweep that checks /health and
    /health/detailed moves both along once); after the last, start over (`repeat`) or keep the last."""

    answers: Sequence[Union[Answer, Hang]]
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.answers:
            raise ValueError("a schedule needs at least one answer")


Behaviour = Union[Answer, Hang, Schedule]


def healthy(body: Any = None, delay: float = 0.0) -> Answer:
    return Answer(200, {"status": "healthy"} if body is None else body, delay=delay)


def failing(status: int = 503, body: Any = None, delay: float = 0.0) -> Answer:
    return Answer(status, {"status": "unhealthy"} if body is None else body, delay=delay)


class Target:
    """One endpoint: its base URLs, the paths it answers (others are 404) and how, and the requests it got."""

    def __init__(self, pool: TargetPool, name: str, behaviour: Behaviour, paths: Sequence[str],
                 port: int | None = None, http_port: int | None = None):
        self.pool, self.name, self.port, self.http_port_own = pool, name, port, http_port
        self.behaviours: dict[str, Behaviour] = {path: behaviour for path in paths}
        self.turns: dict[str, int] = {path: 0 for path in paths}
        self.requests: list[tuple[float, str, str]] = []  # (time, method, path)

    @property
    def url(self) -> str:
        """The HTTPS base URL; append the path (`target.url + "/health"`)."""
        if self.port is not None:
            return f"https://127.0.0.1:{self.port}"
        return f"https://127.0.0.1:{self.pool.https_port}/t/{self.name}"

    @property
    def http_url(self) -> str:
        """The plain-HTTP base URL."""
        if self.http_port_own is not None:
            return f"http://127.0.0.1:{self.http_port_own}"
        return f"http://127.0.0.1:{self.pool.http_port}/t/{self.name}"

    def set(self, behaviour: Behaviour, path: str | None = None) -> None:
        """From now on answer `path` (default: every path) like this; a schedule starts from its first answer."""
        for each in ([path] if path is not None else list(self.behaviours)):
            self.behaviours[each], self.turns[each] = behaviour, 0

    def answer_for(self, path: str) -> Answer | Hang | None:
        behaviour = self.behaviours.get(path)
        if not isinstance(behaviour, Schedule):
            return behaviour
        turn = self.turns[path]
        self.turns[path] = turn + 1
        answers = behaviour.answers
        return answers[turn % len(answers)] if behaviour.repeat else answers[min(turn, len(answers) - 1)]


class TargetPool:
    """Every target on one asyncio loop: one HTTPS and one HTTP listener shared by path, plus own ports."""

    def __init__(self, server_context: ssl.SSLContext, backlog: int = 2048):
        from aiohttp import web

        self._web, self._context, self._backlog = web, server_context, backlog
        self.targets: dict[str, Target] = {}
        self._by_port: dict[int, Target] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator-targets", daemon=True)
        self._thread.start()
        self._stopping: asyncio.Event | None = None
        self._runner: Any = None
        self.https_port, self.http_port = self._call(self._start())

    # ----- set-up ----------------------------------------------------------------------------------
    def add(self, name: str, behaviour: Behaviour | None = None, *, paths: Sequence[str] = BACKEND_PATHS,
            own_port: bool = False) -> Target:
        """A target answering `paths` (a backend's /health and /health/detailed by default) with `behaviour`
        (healthy by default); `own_port`: on ports of its own (HTTPS and HTTP), its paths at the root."""
        if not _NAME.match(name) or name in self.targets:
            raise ValueError(f"target name {name!r} is taken or not [A-Za-z0-9._-]")
        port = http_port = None
        if own_port:
            port, http_port = self._call(self._listen(True)), self._call(self._listen(False))
        target = Target(self, name, behaviour if behaviour is not None else healthy(), paths, port, http_port)
        self.targets[name] = target
        if own_port:
            self._by_port[port] = self._by_port[http_port] = target
        return target

    def add_frontend(self, name: str, version: str, *, version_path: str = "/version.json") -> Target:
        """A frontend at a fixed version on its own origin, answering as the emulator's Static Web App does
        (staticwebapp.py, which follows deploy runs instead): `HEAD /` and `GET /` 200 with the HTML shell and
        `<meta name="app-version">`, `GET <version_path>` `{"version": ...}`, anything else 404."""
        target = self.add(name, paths=("/", version_path), own_port=True)
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="app-version" '
                f'content="{html.escape(version, quote=True)}"><title>{html.escape(name)}</title></head>'
                f'<body><div id="root"></div></body></html>')
        no_store = {"Cache-Control": "no-store"}
        target.set(Answer(200, page, {"Content-Type": "text/html; charset=utf-8", **no_store}), "/")
        target.set(Answer(200, {"version": version}, no_store), version_path)
        return target

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # ----- the loop --------------------------------------------------------------------------------
    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> tuple[int, int]:
        self._stopping = asyncio.Event()
        server = self._web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = self._web.ServerRunner(server, shutdown_timeout=0.5)
        await self._runner.setup()
        return await self._listen(True), await self._listen(False)

    async def _listen(self, tls: bool) -> int:
        sock = socket.create_server(("127.0.0.1", 0), backlog=self._backlog)
        site = self._web.SockSite(self._runner, sock, ssl_context=self._context if tls else None,
                                  backlog=self._backlog)
        await site.start()
        return sock.getsockname()[1]

    async def _stop(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        await self._runner.cleanup()

    async def _handle(self, request: Any) -> Any:
        web = self._web
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        target = self._by_port.get(sockname[1]) if sockname else None
        path = request.path
        if target is None:
            match = _SHARED.match(path)
            target = self.targets.get(match["name"]) if match else None
            path = (match["path"] or "/") if match else path
        if target is None:
            return web.json_response({"error": "not_found", "message": f"no target at {request.path}"}, status=404)
        target.requests.append((time.time(), request.method, path))
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"error": "method_not_allowed"}, status=405, headers={"Allow": "GET, HEAD"})
        answer = target.answer_for(path)
        if answer is None:
            return web.json_response({"error": "not_found", "message": f"{target.name} does not serve {path}"},
                                     status=404)
        if isinstance(answer, Hang):
            assert self._stopping is not None
            await self._stopping.wait()  # until the client hangs up (the handler is cancelled) or the pool stops
            return web.Response(status=503)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        body, content_type = answer.body, None
        if isinstance(body, (dict, list)):
            body, content_type = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            body, content_type = body.encode(), "text/plain; charset=utf-8"
        headers = {"Cache-Control": "no-cache", **({"Content-Type": content_type} if content_type else {}),
                   **dict(answer.headers)}
        return web.Response(status=answer.status, body=body or b"", headers=headers)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a pool in a process of its own (so that a benchmark measures only the sweeping process): prints one
    JSON line {"ca", "targets": [{"name", "kind", "url", "http_url"}]}, then serves until stdin closes."""
    import argparse
    import sys
    import tempfile

    import trustme

    parser = argparse.ArgumentParser(prog="python -m local.emulator.targets", description=main.__doc__)
    parser.add_argument("--healthy", type=int, default=250)
    parser.add_argument("--hanging", type=int, default=250)
    parser.add_argument("--failing", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="health-targets-") as scratch:
        authority = trustme.CA()
        ca_path = f"{scratch}/ca.pem"
        authority.cert_pem.write_to_path(ca_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        pool = TargetPool(context)
        kinds = [("healthy", healthy())] * args.healthy + [("hanging", HANG)] * args.hanging + \
                [("failing", failing(503))] * args.failing
        listed = []
        for index, (kind, behaviour) in enumerate(kinds):
            target = pool.add(f"{kind}-{index}", behaviour)
            listed.append({"name": target.name, "kind": kind, "url": target.url, "http_url": target.http_url})
        print(json.dumps({"ca": ca_path, "targets": listed}), flush=True)
        try:
            sys.stdin.read()  # until the parent closes our stdin (or dies)
        finally:
            pool.stop()


if __name__ == "__main__":
    main()
