"""HTTPS plumbing of the local Azure emulator: TLS from a trustme CA, a threaded server, the request log,
and fault injection. The Azure services themselves (web.py, ...) only map requests to responses."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    time: float
    server: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes = b""  # the body as sent (services that check its size or content type read this)
    answered: int | None = None  # the status it was answered with; None while unanswered, or never (hung, dropped)

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"

    def header(self, name: str) -> str | None:
        """A request header by name, case-insensitively (HTTP header names are)."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """ARM's error shape (CommonDefinitions DefaultErrorResponse / common-types ErrorResponse)."""
    return Response(status, {"error": {"code": code, "message": message}}, headers or {})


@dataclass
class Fault:
    """Injected misbehaviour for requests whose `METHOD path` matches `pattern` (a regex, searched).

    status: answer this status instead (with `headers`, and an ARM error body unless `body` is given);
    delay: sleep this long before handling; hang_after: handle normally, then sleep before answering
    (a client that gives up never learns the outcome); drop: close the connection without answering;
    hang: never answer at all (until the emulator stops): "before" handling (the service never acts on the
    request) or "after" handling (it did act: a receiver delivered the message, a dispatch started a run).
    `times` is how many matching requests it affects (None: all)."""

    pattern: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    hang_after: float = 0.0
    drop: bool = False
    hang: Literal["before", "after"] | None = None
    times: int | None = 1
    server: str | None = None  # "arm", or a health server's name; None: any

    def matches(self, server: str, line: str) -> bool:
        if self.server is not None and self.server != server:
            return False
        return self.times != 0 and re.search(self.pattern, line, re.IGNORECASE) is not None


_REASONS = {429: ("TooManyRequests", "The request is throttled; retry after the interval in Retry-After."),
            500: ("InternalServerError", "The server encountered an internal error. Please retry the request."),
            502: ("BadGateway", "The gateway did not receive a response in time."),
            503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry the request."),
            504: ("GatewayTimeout", "The gateway did not receive a response in time.")}


class Recorder:
    """The request log and the fault list, shared by every server of one emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.listeners: list[Callable[[Request], None]] = []
        self.stopping = threading.Event()  # set when the servers stop: releases the requests left hanging

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            listeners = list(self.listeners)
        for listener in listeners:
            listener(request)

    def take_fault(self, server: str, line: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(server, line):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def matching(self, method: str, pattern: str, server: str | None = "arm") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path, re.IGNORECASE)
                    and (server is None or r.server == server)]


Route = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Request(time.time(), self.server.name, self.command, parts.path,
                          dict(parse_qsl(parts.query, keep_blank_values=True)), dict(self.headers.items()), body,
                          raw)
        recorder = self.server.recorder
        recorder.record(request)
        fault = recorder.take_fault(self.server.name, request.line)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.drop:
            self.close_connection = True
            self.connection.close()
            return
        if fault and fault.hang == "before":
            self._hang()
            return
        if fault and fault.status is not None:
            code, message = _REASONS.get(fault.status, ("InjectedFault", f"injected {fault.status}"))
            response = (Response(fault.status, fault.body, dict(fault.headers)) if fault.body is not None
                        else arm_error(fault.status, code, message, dict(fault.headers)))
        else:
            response = self.server.route(request)
        if fault and fault.hang_after:
            time.sleep(fault.hang_after)
        if fault and fault.hang == "after":
            self._hang()
            return
        request.answered = response.status
        self._write(response)

    def _hang(self) -> None:
        """Never answer: hold the connection until the emulator stops, then close it without a response."""
        self.server.recorder.stopping.wait()
        self.close_connection = True
        self.connection.close()

    def _write(self, response: Response) -> None:
        payload = response.encoded()
        self.send_response(response.status)
        azure = ({"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4())}
                 if self.server.azure_headers else {})
        headers = {**azure, "Cache-Control": "no-cache", **response.headers}
        if payload and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json; charset=utf-8"
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str, route: Route, recorder: Recorder, context: ssl.SSLContext,
                 azure_headers: bool = True):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name, self.route, self.recorder, self.azure_headers = name, route, recorder, azure_headers
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client hanging up is not an error here
        pass


class HttpsServers:
    """Starts named HTTPS servers on free 127.0.0.1 ports, all trusting one CA (written to `ca_path`)."""

    def __init__(self, ca_dir: str, recorder: Recorder):
        import trustme

        self._ca = trustme.CA()
        self.ca_path = f"{ca_dir}/emulator-ca.pem"
        self._ca.cert_pem.write_to_path(self.ca_path)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._context)
        self._recorder = recorder
        self._servers: list[_Server] = []

    @property
    def server_context(self) -> ssl.SSLContext:
        """The TLS context the servers present (a certificate for 127.0.0.1 and localhost from this CA)."""
        return self._context

    def issue_cert(self, directory: str, *hosts: str) -> tuple[str, str]:
        """A server certificate for `hosts` from this CA (e.g. for a TLS redis-server): (cert path, key path)."""
        cert = self._ca.issue_cert(*hosts)
        cert_path, key_path = f"{directory}/{hosts[0]}-cert.pem", f"{directory}/{hosts[0]}-key.pem"
        cert.cert_chain_pems[0].write_to_path(cert_path)
        cert.private_key_pem.write_to_path(key_path)
        return cert_path, key_path

    def start(self, name: str, route: Route, azure_headers: bool = True) -> int:
        """Serve `route` on a free port (returned); `azure_headers`: add Azure's x-ms-*-id headers to every
        answer (services that are not Azure's, GitHub or a webhook receiver, do not send them)."""
        server = _Server(name, route, self._recorder, self._context, azure_headers)
        threading.Thread(target=server.serve_forever, args=(0.05,), name=f"emulator-{name}", daemon=True).start()
        self._servers.append(server)
        return server.server_address[1]

    def stop(self) -> None:
        self._recorder.stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
