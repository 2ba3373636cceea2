"""Real local services for the tests and the demo: Azurite (Table + Queue storage) and redis-server,
each started on free 127.0.0.1 ports and stopped afterwards."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "local" / "node_modules" / ".bin" / "azurite"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at https?://127\.0\.0\.1:(\d+)")


class Azurite:
    """`azurite` from local/node_modules (pinned in local/package.json), in memory, telemetry off.

    With `oauth=(cert, key)` it serves HTTPS with that PEM certificate and accepts bearer tokens (`--oauth basic`:
    a JWT with an Entra issuer, the storage audience and a valid lifetime; the signature is not checked)."""

    def __init__(self, oauth: tuple[str, str] | None = None) -> None:
        if not AZURITE.exists():
            raise RuntimeError(f"Azurite is not installed at {AZURITE}: run `make setup` (npm ci in local/)")
        self._process: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}
        self._output: list[str] = []
        self.oauth = oauth
        self.scheme = "https" if oauth else "http"

    def start(self, timeout: float = 60.0) -> Azurite:
        command = [str(AZURITE), "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
                   "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                   "--blobPort", "0", "--queuePort", "0", "--tablePort", "0"]
        if self.oauth:
            command += ["--oauth", "basic", "--cert", self.oauth[0], "--key", self.oauth[1]]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         cwd=tempfile.gettempdir(), start_new_session=True)
        ready = threading.Event()

        def read() -> None:  # keep draining, so Azurite never blocks on a full pipe
            for line in self._process.stdout:
                self._output.append(line.rstrip())
                match = _LISTENING.search(line)
                if match:
                    self.ports[match[1].lower()] = int(match[2])
                    if {"queue", "table"} <= set(self.ports):
                        ready.set()

        threading.Thread(target=read, name="azurite-output", daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("Azurite did not start within %ss; its output:\n%s" % (timeout, "\n".join(self._output)))
        return self

    def service_uri(self, service: str) -> str:
        """The service's URL with the emulator account in the path (Azurite's IP-style URLs)."""
        return f"{self.scheme}://127.0.0.1:{self.ports[service]}/devstoreaccount1"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol={self.scheme};AccountName=devstoreaccount1;"
                f"AccountKey={ACCOUNT_KEY};"
                f"TableEndpoint={self.service_uri('table')};"
                f"QueueEndpoint={self.service_uri('queue')};")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, 15)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, 9)
        self._process = None


def free_port(with_bus: bool = False) -> int:
    """A free 127.0.0.1 port; `with_bus`: port + 10000 (a cluster node's bus port) must be valid and free too."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not with_bus:
            return port
        if port + 10000 <= 65535:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


class RedisServer:
    """A throwaway redis-server: nothing persisted; optional password, TLS (cert, key, CA) and cluster mode.
    DEBUG is allowed from loopback so tests can create many keys fast (DEBUG POPULATE)."""

    def __init__(self, password: str | None = None, tls: tuple[str, str, str] | None = None,
                 cluster: bool = False, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make setup` (apt-get install redis-server)")
        self.binary, self.password, self.tls, self.cluster = binary, password, tls, cluster
        self.port = port or free_port(with_bus=cluster)
        self._dir = tempfile.TemporaryDirectory(prefix="redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [self.binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                "--enable-debug-command", "local"]
        if self.tls:
            cert, key, ca = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert, "--tls-key-file", key,
                     "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.cluster:
            # Announce the IP, as Azure Cache for Redis does: CLUSTER SLOTS names 127.0.0.1, never a host name.
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"{self._dir.name}/nodes.conf",
                     "--cluster-node-timeout", "2000", "--cluster-announce-ip", "127.0.0.1"]
            if self.tls:  # the bus and replication over TLS too; with --port 0 the node announces its TLS port
                args += ["--tls-cluster", "yes", "--tls-replication", "yes"]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self._process.returncode} ({' '.join(args)})")
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        self._dir.cleanup()


class RedisCluster:
    """Three redis-server primaries joined into a cluster with `redis-cli --cluster create`; with `tls`
    (cert, key, CA) every node, the cluster bus and replication speak TLS only (like a clustered Azure Cache for
    Redis on its 15000+ ports), and every node still announces its IP, which the certificate need not name."""

    def __init__(self, nodes: int = 3, tls: tuple[str, str, str] | None = None) -> None:
        self.tls = tls
        self.servers = [RedisServer(cluster=True, tls=tls) for _ in range(nodes)]

    def cli(self, port: int, *args: str, timeout: float = 30.0) -> str:
        """redis-cli against one node (over TLS, trusting the cluster's CA, for a TLS cluster); its stdout."""
        tls = ["--tls", "--cacert", self.tls[2]] if self.tls else []
        done = subprocess.run(["redis-cli", *tls, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done.stdout

    def start(self, timeout: float = 30.0) -> RedisCluster:
        try:
            for server in self.servers:
                server.start()
            addresses = [f"127.0.0.1:{server.port}" for server in self.servers]
            self.cli(self.port, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes",
                     timeout=timeout)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if all("cluster_state:ok" in self.cli(server.port, "cluster", "info") for server in self.servers):
                    return self
                time.sleep(0.1)
            raise RuntimeError("the Redis cluster did not reach cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    @property
    def port(self) -> int:
        return self.servers[0].port

    def node_id(self, port: int) -> str:
        return self.cli(port, "cluster", "myid").strip()

    def move_slot(self, slot: int, source: int, destination: int, finish: bool = True) -> None:
        """Reshard one hash slot, keys included, from the node on port `source` to the one on `destination`
        (the steps `redis-cli --cluster reshard` takes), so a client that read the topology before is stale: the
        source answers MOVED for the slot's keys. `finish=False` stops with the keys moved but the slot still
        migrating (a reshard under way): the source then answers ASK."""
        source_id, destination_id = self.node_id(source), self.node_id(destination)
        self.cli(destination, "cluster", "setslot", str(slot), "importing", source_id)
        self.cli(source, "cluster", "setslot", str(slot), "migrating", destination_id)
        while keys := self.cli(source, "cluster", "getkeysinslot", str(slot), "1000").split():
            self.cli(source, "migrate", "127.0.0.1", str(destination), "", "0", "5000", "keys", *keys)
        if finish:
            for server in self.servers:  # every node learns the new owner now, not later through the bus
                self.cli(server.port, "cluster", "setslot", str(slot), "node", destination_id)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
