"""Real PostgreSQL servers for the tests and the emulator: one cluster per server, each on its own loopback
address and a port they share, with WAL archiving, so that a server can be restored to a point in time for
real (a base backup, then WAL replayed up to the restore point), as Azure's flexible server restores it.

initdb runs once per process (about 0.8 s); every server starts from a copy of that cluster. PostgreSQL refuses
to run as root, so when this process is root the servers run as the `postgres` user (the one Debian's
`postgresql` package creates; `make setup` installs it)."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SUPERUSER = "azure_superuser"  # the emulator's own role, as Azure keeps one the customer never gets
# One password per process for the emulator's role in every cluster (restored clusters copy it with the data).
SUPERUSER_PASSWORD = secrets.token_urlsafe(18)
_HBA = ("# TCP only, with passwords: a wrong password is refused as Azure refuses it.\n"
        "host all all 127.0.0.0/8 scram-sha-256\n"
        "host replication all 127.0.0.0/8 scram-sha-256\n")
_template_lock = threading.Lock()
_template: Path | None = None
_running: set[subprocess.Popen[bytes]] = set()


def binaries() -> Path:
    """The folder of initdb, postgres and pg_basebackup: Debian's newest /usr/lib/postgresql/<major>/bin, else
    the one pg_ctl on PATH is in."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    if found is None:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` (apt-get install postgresql)")
    return Path(found).resolve().parent


def _run_as() -> str | None:
    """The user the servers run as: `postgres` when this process is root (initdb refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, PostgreSQL needs the `postgres` user: apt-get install postgresql")
    return "postgres"


def _own(path: Path) -> None:
    """Hand a folder (recursively) to the user the servers run as."""
    user = _run_as()
    if user is None:
        return
    for folder, dirs, files in os.walk(path):
        shutil.chown(folder, user, user)
        for name in files:
            shutil.chown(os.path.join(folder, name), user, user)


def _scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _own(path)
    return path


def _cluster_template() -> Path:
    """A freshly initialised cluster, made once per process and copied for every server."""
    global _template
    with _template_lock:
        if _template is None:
            work = _scratch("postgres-template-")
            password = work / "password"
            password.write_text(SUPERUSER_PASSWORD + "\n")
            _own(work)
            data = work / "data"
            done = subprocess.run([str(binaries() / "initdb"), "-D", str(data), "-U", SUPERUSER,
                                   f"--pwfile={password}", "-A", "scram-sha-256", "-E", "UTF8", "--no-locale",
                                   "--no-sync", "--wal-segsize=1", "--no-instructions"],
                                  capture_output=True, text=True, user=_run_as())
            password.unlink()
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
            (data / "pg_hba.conf").write_text(_HBA)
            atexit.register(shutil.rmtree, work, True)
            _template = data
        return _template


def free_shared_port() -> int:
    """A port free on every address: the servers bind 127.0.0.2, 127.0.0.3, ... on it."""
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


@dataclass
class BaseBackup:
    """A physical copy of a running cluster (pg_basebackup); `completed` is when it finished."""

    path: Path
    completed: datetime


class PostgresServer:
    """One real PostgreSQL cluster on `host`:`port`, its WAL archived into `archive`; started from the template
    (`start`), or restored from a base backup and archived WAL up to a point in time (`restore`)."""

    def __init__(self, host: str, port: int, work: Path | None = None):
        self.host, self.port = host, port
        self.work = work or _scratch(f"postgres-{host}-")
        self.data, self.archive, self.sockets = self.work / "data", self.work / "archive", self.work / "sockets"
        self.log = self.work / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    # ----- life cycle ------------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> PostgresServer:
        shutil.copytree(_cluster_template(), self.data)
        self._launch({}, timeout)
        return self

    @classmethod
    def restore(cls, backup: BaseBackup, archive: Path, point: datetime | None, host: str, port: int,
                timeout: float = 60.0) -> PostgresServer:
        """A new cluster from `backup`, with the WAL in `archive` replayed up to `point` (the state at the end
        of the backup when None), then promoted: the data as it was at that moment."""
        server = cls(host, port)
        shutil.copytree(backup.path, server.data)
        (server.data / "recovery.signal").touch()
        recovery = {"restore_command": f"cp {archive}/%f %p", "recovery_target_action": "promote"}
        if point is None:
            recovery["recovery_target"] = "immediate"
        else:
            recovery["recovery_target_time"] = point.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        try:
            server._launch(recovery, timeout)
            deadline = time.monotonic() + timeout
            with server.connect() as connection:
                while connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the restored server on {host} did not leave recovery: "
                                           f"{server.log_tail()}")
                    time.sleep(0.02)
        except BaseException:
            server.remove()
            raise
        return server

    def _launch(self, extra: dict[str, str], timeout: float) -> None:
        for folder in (self.archive, self.sockets):
            folder.mkdir(exist_ok=True)
        self.data.chmod(0o700)
        _own(self.work)
        settings = {"listen_addresses": self.host, "port": str(self.port),
                    "unix_socket_directories": str(self.sockets), "wal_level": "replica", "archive_mode": "on",
                    # copied under a temporary name and renamed, so a segment's file exists only once complete
                    "archive_command": f"cp %p {self.archive}/%f.part && mv {self.archive}/%f.part {self.archive}/%f",
                    "fsync": "off", "shared_buffers": "16MB",
                    "max_connections": "50", **extra}
        args = [str(binaries() / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, user=_run_as(),
                                             start_new_session=True)
        _running.add(self._process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}: {self.log_tail()}")
            try:
                self.connect().close()
                return
            except Exception:  # refused or "starting up": not ready yet
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"postgres on {self.host}:{self.port} did not accept connections: {self.log_tail()}")

    def stop(self) -> None:
        """Immediate shutdown (the data is thrown away with the folder)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _running.discard(process)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ----- data --------------------------------------------------------------------------------------------
    def connect(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None,
                **kwargs: Any):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, dbname=database, user=user,
                               password=SUPERUSER_PASSWORD if password is None else password,
                               connect_timeout=5, autocommit=True, **kwargs)

    def base_backup(self, into: Path) -> BaseBackup:
        """A base backup of the running cluster into `into` (which must not exist yet)."""
        into.parent.mkdir(parents=True, exist_ok=True)
        _own(into.parent)
        done = subprocess.run([str(binaries() / "pg_basebackup"), "-h", self.host, "-p", str(self.port), "-U",
                               SUPERUSER, "-D", str(into), "-X", "stream", "-c", "fast", "--no-sync", "-w"],
                              capture_output=True, text=True, user=_run_as(),
                              env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD})
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup of {self.host} failed: {done.stderr or done.stdout}")
        return BaseBackup(into, datetime.now(timezone.utc))

    def archive_now(self, timeout: float = 30.0) -> None:
        """Make every commit so far restorable: commit a clock tick (so the WAL holds a commit later than any
        restore point asked until now: recovery to a time needs one to stop at), switch to a new WAL segment
        and wait until the archiver copied the finished one."""
        with self.connect() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS emulator_clock (at timestamptz NOT NULL)")
            connection.execute("INSERT INTO emulator_clock VALUES (clock_timestamp())")
            segment = connection.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + timeout
        while not (self.archive / segment).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"WAL segment {segment} of {self.host} was not archived: {self.log_tail()}")
            time.sleep(0.01)


@atexit.register
def _stop_all() -> None:
    """A test run that ends without stopping its servers leaves no postmaster behind."""
    for process in list(_running):
        if process.poll() is None:
            process.kill()
