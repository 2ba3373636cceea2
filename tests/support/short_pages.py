"""A stand-in for Table Storage that is as strict as the real service about paging, in front of Azurite.

Azurite always fills a page (up to $top or 1000 rows). Table Storage may answer a query with fewer rows than
asked for, or none at all, and a continuation token (x-ms-continuation-NextPartitionKey / -NextRowKey): at a
partition boundary, after 5 s of server time, at 1000 rows or 4 MiB. A client that treats a short page as the
end of the query, or an empty one as "nothing more", loses rows there.

This proxy forwards every request to Azurite unchanged, and answers each entity query with a prefix of Azurite's
page, sometimes empty, and the continuation headers set to the first row it cut, encoded as Azurite encodes them
(base64 of the key, see LokiTableMetadataStore.encodeContinuationHeader), so the token the SDK sends back resumes
exactly there. The cuts are drawn in request order from a seeded generator, reset for each test by the
`short_pages_storage` fixture, so a test sees the same pages on every run. An empty page may hand back the
very token it was asked with (stricter than Table Storage, whose tokens move on), but not twice in a row for the
same request, so a client that follows tokens always gets there.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_NEXT_PK, _NEXT_RK = "x-ms-continuation-NextPartitionKey", "x-ms-continuation-NextRowKey"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


def _encode(key: str) -> str:
    return base64.b64encode(key.encode()).decode()


class ShortPagesProxy:
    """Listens on a free 127.0.0.1 port and forwards to Azurite's Table service on `upstream_port`."""

    def __init__(self, upstream_port: int, seed: int = 20261125) -> None:
        self.upstream_port, self.seed = upstream_port, seed
        self.queries = 0          # entity queries answered
        self.short_pages = 0      # of which cut short (a prefix, with a continuation token)
        self.empty_pages = 0      # of which cut to nothing (still with a token)
        self._draw = random.Random(seed)
        self._emptied: set[str] = set()  # requests last answered with an empty page
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def start(self) -> ShortPagesProxy:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="short-pages", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def connection_string(self, azurite: Any) -> str:
        """Azurite's connection string with the Table endpoint through this proxy (the queue stays direct)."""
        return azurite.connection_string.replace(f"127.0.0.1:{azurite.ports['table']}/", f"127.0.0.1:{self.port}/")

    def reset(self) -> None:
        """Start the cuts over from the seed, and the counts from zero."""
        with self._lock:
            self._draw = random.Random(self.seed)
            self._emptied.clear()
            self.queries = self.short_pages = self.empty_pages = 0

    # ----- the page cut ---------------------------------------------------------------------------------
    def cut(self, target: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
        """The page Table Storage might have answered instead of Azurite's full one."""
        document = json.loads(body)
        rows = document.get("value")
        if not isinstance(rows, list) or not rows:
            return body, headers
        with self._lock:
            self.queries += 1
            roll = self._draw.random()  # a quarter of the pages empty, a tenth as Azurite gave them, the rest a prefix
            keep = (0 if roll < 0.25 else len(rows) if roll < 0.35 or len(rows) == 1
                    else self._draw.randrange(1, len(rows)))
            if keep == 0 and target in self._emptied:
                keep = 1  # the same request answered empty again would never end
            self._emptied.discard(target)
            if keep == 0:
                self._emptied.add(target)
            if keep == len(rows):
                return body, headers
            self.short_pages += 1
            self.empty_pages += keep == 0
        first_cut = rows[keep]
        document["value"] = rows[:keep]
        kept = [(name, value) for name, value in headers if name.lower() not in (_NEXT_PK.lower(), _NEXT_RK.lower())]
        kept += [(_NEXT_PK, _encode(first_cut["PartitionKey"])), (_NEXT_RK, _encode(first_cut["RowKey"]))]
        return json.dumps(document, separators=(",", ":")).encode(), kept

    # ----- HTTP plumbing --------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every small answer waits ~40 ms for a delayed ACK

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if not size:
                            return b"".join(chunks)
                        chunks.append(chunk)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    upstream.connect()
                    upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    out = [(name, value) for name, value in answer.getheaders() if name.lower() not in _HOP_BY_HOP]
                    status = answer.status
                finally:
                    upstream.close()
                path = urlsplit(self.path).path
                if self.command == "GET" and status == 200 and path.endswith("()") and not path.endswith("/Tables()"):
                    data, out = proxy.cut(self.path, data, out)
                self.send_response_only(status)
                for name, value in out:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = do_HEAD = _forward

        return Forward
