"""A TCP server that accepts connections, reads what it is sent and never answers: storage that is "up" at the
network level but hangs, the case where only client timeouts end the wait."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """Listens on a free 127.0.0.1 port; `connections` counts the connections it accepted (one per attempt)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()

    def __enter__(self) -> SilentServer:
        threading.Thread(target=self._accept, name="silent-server", daemon=True).start()
        return self

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            self._open.append(connection)  # held open and never written to

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        for connection in self._open:
            connection.close()
        self._listener.close()
