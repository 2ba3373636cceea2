"""Azure Database for PostgreSQL flexible server (Microsoft.DBforPostgreSQL, api-versions 2026-10-01 and
2025-08-01) as the emulator serves it: servers, their backups, and point-in-time restore as a long-running
operation. Every emulated server is a real PostgreSQL cluster (local/postgres.py) on its own loopback address
(127.0.0.2, 127.0.0.3, ...) and the port all of them share, so `fullyQualifiedDomainName` is that address and a
connection string keeps its port, user, database and password when only the host changes, as in Azure.

A restore is real: the source's base backup and archived WAL replayed up to `pointInTimeUTC`, so a write after
the restore point is not in the restored database. Time before a server was added is a fiction: a server added
with `history` claims to have existed that long with its data unchanged, so a restore point in that past (down
to `earliestRestoreDate`) gives the data as it was added.

Where Azure's behaviour is not documented the stricter choice is made, and said so:
  * only the api-versions whose shapes the emulator models (the SDK's 2026-10-01, the spec's 2025-08-01) are
    accepted; others (azure-mgmt-rdbms's 2021-06-01 among them) are refused as ARM refuses an unknown one;
  * the create PUT answers 202 only, with `Azure-AsyncOperation` and `Location` (as the spec's example) and no
    `Retry-After` unless a scenario sets one; only `createMode: PointInTimeRestore` is served;
  * a PUT for a name that exists is refused (409), also when it repeats the same restore: a retried kickoff
    must find the server it asked for by reading it, not by asking again. Names are unique across the emulator
    (they are DNS names in Azure);
  * a restore that ends Failed leaves no server behind (GET answers 404; the operation status says why);
  * a PUT or DELETE while an operation runs on the server is a 409;
  * the error codes of PostgreSQL's own refusals are not published: the codes below are the emulator's, in the
    service's style; act on the HTTP status, show the message.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from local.emulator.server import Request, Response, arm_error
from local.postgres import BaseBackup, PostgresServer, free_shared_port

API_VERSIONS = ("2026-10-01", "2025-08-01")
SERVER_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
_PROVIDER = r"/providers/microsoft\.dbforpostgresql"
_SERVERS = re.compile(rf"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+){_PROVIDER}/flexibleservers"
                      r"(?:/(?P<name>[^/]+)(?P<rest>/.*)?)?$", re.IGNORECASE)
_SUBSCRIPTION_SERVERS = re.compile(rf"^/subscriptions/(?P<sub>[^/]+){_PROVIDER}/flexibleservers$", re.IGNORECASE)
_OPERATION = re.compile(rf"^/subscriptions/(?P<sub>[^/]+){_PROVIDER}/locations/(?P<location>[^/]+)/"
                        r"(?P<kind>azureasyncoperation|operationresults)/(?P<id>[^/]+)$", re.IGNORECASE)
_SOURCE_ID = re.compile(rf"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+){_PROVIDER}/flexibleservers/"
                        r"(?P<name>[^/]+)$", re.IGNORECASE)
# 3-63 characters: lower-case letters, digits and hyphens, neither first nor last a hyphen.
_SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_TICKS_AT_EPOCH = 621355968000000000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01, as backup names use


def iso(moment: datetime) -> str:
    """`2025-06-01T18:35:22.123456Z`, as the examples write server times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _offset_iso(moment: datetime) -> str:
    """`2025-06-01T14:30:22.123456+00:00`, as the backup examples write `completedTime`."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _location_key(location: str) -> str:
    return location.replace(" ", "").lower()


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset (`Z` or `+00:00`); None for anything else, a time without offset too."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass
class Backup:
    """A full backup as the backups API lists it; `base` is the real base backup a restore from it starts
    from (None: a backup of the fictional past, whose data is the state the server was added with)."""

    completed: datetime
    base: BaseBackup | None = None
    backup_type: str = "Full"
    source: str = "Automatic"

    @property
    def name(self) -> str:
        ticks = _TICKS_AT_EPOCH + int(self.completed.timestamp() * 10_000_000)
        return f"backup_{ticks}"


@dataclass
class FlexibleServer:
    subscription: str
    resource_group: str
    name: str
    location: str
    address: str
    administrator_login: str
    state: str = "Ready"
    version: str = "15"
    minor_version: str = ""
    sku: dict[str, str] = field(default_factory=lambda: {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"})
    storage_gb: int = 128
    retention_days: int = 7
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    history_start: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    backups: list[Backup] = field(default_factory=list)
    source_id: str | None = None
    instance: PostgresServer | None = None
    operation: str | None = None  # id of the operation running on it
    settled: threading.Event = field(default_factory=threading.Event)  # set when no operation runs on it

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/{SERVER_TYPE}/{self.name}")

    @property
    def port(self) -> int:
        return self.instance.port if self.instance else 0

    @property
    def earliest_restore(self) -> datetime:
        """Backups are kept `retention_days`; nothing is restorable from before the server existed."""
        return max(self.history_start, datetime.now(timezone.utc) - timedelta(days=self.retention_days))

    def url(self, database: str, user: str, password: str) -> str:
        """A connection string for this server, as the app keeps one in its `database-url` secret."""
        from urllib.parse import quote

        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.address}:{self.port}/{database}"

    def execute(self, sql: str, params: Any = None, database: str = "postgres") -> list[tuple]:
        """Run `sql` on the real database as the emulator's superuser; the rows it returns, if any."""
        if self.instance is None or not self.instance.running:
            raise RuntimeError(f"server {self.name} has no running database ({self.state})")
        with self.instance.connect(database) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


@dataclass
class Operation:
    id: str
    kind: str  # "restore" or "delete"
    server: FlexibleServer
    location: str
    api_version: str
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    status: str = "InProgress"
    ended: datetime | None = None
    error: dict[str, Any] | None = None  # {"code", "message"} and the "status" its Location URL answers
    point: datetime | None = None
    source: FlexibleServer | None = None
    go: threading.Event = field(default_factory=threading.Event)  # the configured duration is over


@dataclass
class PostgresScenario:
    """What the tests set: how long operations take, which restores fail, paging, polling hints."""

    restore_seconds: float | None = 0.2  # at least this long in Provisioning; None: until finish_restore()
    delete_seconds: float = 0.1
    # The next restores end Failed with this: {"code", "message"}, optionally the HTTP "status" the Location URL
    # answers (default 400) and "times" (default: every restore until cleared).
    restore_failure: dict[str, Any] | None = None
    retry_after: str | None = None  # Retry-After on the 202 and on polls; None: not sent (strict)
    page_size: int | None = None  # list pages hold this many items (nextLink to the rest); None: one page


class PostgreSQLFlexible:
    def __init__(self, base_url: Callable[[], str]):
        self._base_url = base_url
        self.servers: dict[str, FlexibleServer] = {}  # by lower-case name: names are global
        self.operations: dict[str, Operation] = {}
        self.scenario = PostgresScenario()
        self.lock = threading.RLock()
        self.port = free_shared_port()
        self._next_address = 2
        self._restoring = threading.Semaphore(2)  # real restores run two at a time on this 2-core kind of machine
        self._stopped = False

    # ----- scenario set-up -------------------------------------------------------------------------------
    def add_server(self, subscription: str, resource_group: str, name: str, *, database: str, user: str,
                   password: str, sql: str = "", location: str = "eastus", history: timedelta = timedelta(days=7),
                   retention_days: int = 7, tags: dict[str, str] | None = None) -> FlexibleServer:
        """A Ready server running a real PostgreSQL with `database` owned by `user` (its administrator login,
        with `password`), `sql` run in it as that user, then a first full backup; it claims to have existed
        for `history` before that, its data unchanged."""
        from psycopg import sql as composed

        if not _SERVER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid flexible server name")
        if name.lower() in self.servers:
            raise ValueError(f"a server named {name} exists already")
        now = datetime.now(timezone.utc)
        server = FlexibleServer(subscription, resource_group, name, location, self._address(), user,
                                retention_days=retention_days, tags=dict(tags or {}), created=now - history,
                                history_start=now - history)
        server.instance = PostgresServer(server.address, self.port).start()
        try:
            with server.instance.connect() as connection:
                connection.execute(composed.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                    composed.Identifier(user), composed.Literal(password)))
                connection.execute(composed.SQL("CREATE DATABASE {} OWNER {}").format(
                    composed.Identifier(database), composed.Identifier(user)))
                server.minor_version = connection.execute("SHOW server_version").fetchone()[0].partition(".")[2]
            if sql:
                with server.instance.connect(database, user, password) as connection:
                    connection.execute(sql.encode())
            first = server.instance.base_backup(server.instance.work / "backups" / "1")
        except BaseException:
            server.instance.remove()
            raise
        days = max(0, int(history / timedelta(days=1)))
        server.backups = [Backup(server.history_start + timedelta(days=day)) for day in range(days)]
        server.backups.append(Backup(first.completed, first))
        server.settled.set()
        with self.lock:
            self.servers[name.lower()] = server
        return server

    def server(self, name: str) -> FlexibleServer:
        return self.servers[name.lower()]

    def fail_next_restore(self, code: str = "InternalServerError",
                          message: str = "An unexpected error occurred while restoring the server.",
                          times: int | None = 1, status: int = 400) -> None:
        """The next `times` restores (None: all) end Failed with this error."""
        self.scenario.restore_failure = {"code": code, "message": message, "times": times, "status": status}

    def finish_restore(self, name: str) -> None:
        """End the wait of a restore now (its real copy still has to finish)."""
        with self.lock:
            server = self.server(name)
            if server.operation:
                self.operations[server.operation].go.set()

    def wait(self, name: str, timeout: float = 60.0) -> FlexibleServer:
        """Block until no operation runs on the server (a restore finished or failed)."""
        server = self.servers.get(name.lower())
        if server is None:
            raise KeyError(name)
        if not server.settled.wait(timeout):
            raise TimeoutError(f"server {name} is still {server.state} after {timeout}s")
        return server

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            servers = list(self.servers.values())
            for operation in self.operations.values():
                operation.go.set()
        for server in servers:
            if server.instance is not None:
                server.instance.remove()

    def _address(self) -> str:
        with self.lock:
            index, self._next_address = self._next_address, self._next_address + 1
        return f"127.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"

    # ----- ARM routing -----------------------------------------------------------------------------------
    def route(self, request: Request) -> Response | None:
        """The response for a PostgreSQL flexible server request, or None if the path is not one."""
        operation = _OPERATION.match(request.path)
        servers = _SERVERS.match(request.path)
        listing = _SUBSCRIPTION_SERVERS.match(request.path)
        if not (operation or servers or listing):
            return None
        version = request.query.get("api-version", "")
        if version not in API_VERSIONS:
            return arm_error(400, "NoRegisteredProviderFound",
                             f"No registered resource provider found for location 'eastus' and API version "
                             f"'{version}' for type 'flexibleServers'. The supported api-versions are "
                             f"'{', '.join(API_VERSIONS)}'.")
        with self.lock:
            if operation:
                return self._operation(operation["kind"].lower(), operation["id"], operation["sub"])
            if listing:
                if request.method != "GET":
                    return _method_not_allowed(request)
                return self._page(request, [s for s in self.servers.values()
                                            if s.subscription.lower() == listing["sub"].lower()], self._body)
            if servers["name"] is None:
                if request.method != "GET":
                    return _method_not_allowed(request)
                return self._page(request, [s for s in self.servers.values()
                                            if (s.subscription.lower(), s.resource_group.lower())
                                            == (servers["sub"].lower(), servers["rg"].lower())], self._body)
            return self._server_route(request, servers["sub"], servers["rg"], servers["name"],
                                      (servers["rest"] or "").rstrip("/").lower(), version)

    def _server_route(self, request: Request, sub: str, rg: str, name: str, rest: str, version: str) -> Response:
        server = self._find(sub, rg, name)
        if rest == "" and request.method == "PUT":
            return self._create(request, sub, rg, name, version)
        if server is None:
            return _not_found(name, rg)
        if rest == "" and request.method == "GET":
            return Response(200, self._body(server))
        if rest == "" and request.method == "DELETE":
            return self._delete(server, version)
        backups = re.match(r"^/backups(?:/(?P<backup>[^/]+))?$", rest)
        if backups and request.method == "GET":
            if server.state == "Provisioning":  # a server being restored has taken no backup yet
                listed: list[Backup] = []
            else:
                earliest = server.earliest_restore - timedelta(days=1)
                listed = [b for b in server.backups if b.completed >= earliest]
            if backups["backup"] is None:
                return self._page(request, listed, lambda b: self._backup_body(server, b))
            found = next((b for b in listed if b.name.lower() == backups["backup"].lower()), None)
            if found is None:
                return arm_error(404, "ResourceNotFound", f"The backup '{backups['backup']}' of server '{name}' "
                                                          f"was not found.")
            return Response(200, self._backup_body(server, found))
        known = rest == "" or backups is not None
        return arm_error(405 if known else 404, "NotSupported" if known else "NotFound",
                         f"{request.method} {request.path} is not supported here")

    def _find(self, sub: str, rg: str, name: str) -> FlexibleServer | None:
        server = self.servers.get(name.lower())
        if server is None or (server.subscription.lower(), server.resource_group.lower()) != (sub.lower(), rg.lower()):
            return None
        return server

    # ----- point-in-time restore -------------------------------------------------------------------------
    def _create(self, request: Request, sub: str, rg: str, name: str, version: str) -> Response:
        if not _SERVER_NAME.match(name):
            return arm_error(400, "InvalidServerName",
                             f"Server name '{name}' is not valid: use 3 to 63 characters, lower-case letters, digits "
                             f"and hyphens, neither first nor last a hyphen.")
        existing = self.servers.get(name.lower())
        if existing is not None:
            if existing.operation is not None:
                return self._busy(existing)
            return arm_error(409, "ServerNameAlreadyExists",
                             f"The server name '{name}' is already in use ({existing.id}, state {existing.state}). "
                             f"Read the server instead of creating it again, or choose another name.")
        body = request.body if isinstance(request.body, dict) else None
        if body is None:
            return arm_error(400, "InvalidRequestContent", "The request content is not a JSON object.")
        properties = body.get("properties")
        if not isinstance(properties, dict):
            return arm_error(400, "InvalidRequestContent", "The request content must have 'properties'.")
        mode = properties.get("createMode")
        if mode != "PointInTimeRestore":
            return arm_error(400, "UnsupportedCreateMode",
                             f"createMode {mode!r} is not served by the local emulator: it creates servers only by "
                             f"PointInTimeRestore (add a source server with Emulator.add_postgres_server).")
        missing = [key for key in ("sourceServerResourceId", "pointInTimeUTC") if not properties.get(key)]
        if missing or not body.get("location"):
            names = ", ".join(missing + ([] if body.get("location") else ["location"]))
            return arm_error(400, "MissingRequiredProperty",
                             f"Point-in-time restore requires {names}.")
        point = _parse_time(properties["pointInTimeUTC"])
        if point is None:
            return arm_error(400, "InvalidParameterValue",
                             f"pointInTimeUTC {properties['pointInTimeUTC']!r} is not an ISO 8601 time with a UTC "
                             f"offset (for example 2025-06-01T18:35:22.123456Z).")
        source_match = _SOURCE_ID.match(str(properties["sourceServerResourceId"]))
        source = source_match and self._find(source_match["sub"], source_match["rg"], source_match["name"])
        if not source:
            return arm_error(404, "ResourceNotFound",
                             f"The source server '{properties['sourceServerResourceId']}' was not found.")
        if source.state != "Ready" or source.instance is None:
            return arm_error(409, "SourceServerNotReady",
                             f"The source server '{source.name}' is {source.state}; a restore needs it Ready.")
        if _location_key(str(body["location"])) != _location_key(source.location):
            return arm_error(400, "InvalidLocation",
                             f"A point-in-time restore is created in the source server's region "
                             f"'{source.location}', not '{body['location']}' (GeoRestore restores elsewhere).")
        now, earliest = datetime.now(timezone.utc), source.earliest_restore
        if not earliest <= point <= now:
            return arm_error(400, "InvalidPointInTimeRestoreTime",
                             f"The restore point {iso(point)} is outside the restore window of server "
                             f"'{source.name}': from {iso(earliest)} (its earliest restore date) to {iso(now)} "
                             f"(now).")
        server = FlexibleServer(sub, rg, name, source.location, self._address(), source.administrator_login,
                                state="Provisioning", version=source.version, minor_version=source.minor_version,
                                sku=dict(source.sku), storage_gb=source.storage_gb,
                                retention_days=source.retention_days, tags=dict(source.tags), source_id=source.id)
        operation = Operation(str(uuid.uuid4()), "restore", server, _location_key(source.location), version,
                              point=point, source=source)
        failure = self.scenario.restore_failure
        if failure:
            operation.error = {key: failure[key] for key in ("code", "message", "status")}
            if failure.get("times") is not None:
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self.scenario.restore_failure = None
        self.servers[name.lower()] = server
        self.operations[operation.id] = operation
        server.operation = operation.id
        threading.Thread(target=self._run_restore, args=(operation,), name=f"restore-{name}", daemon=True).start()
        return Response(202, None, self._lro_headers(operation))

    def _run_restore(self, operation: Operation) -> None:
        """Wait out the configured duration, then restore for real (or fail as the scenario says)."""
        seconds = self.scenario.restore_seconds
        operation.go.wait(seconds)
        server, source = operation.server, operation.source
        error = operation.error
        if error is None and not self._stopped:
            try:
                with self._restoring:
                    self._restore(server, source, operation.point)
            except Exception as failed:  # a real failure of the copy: Failed, with what went wrong
                error = {"code": "InternalServerError", "message": f"The restore failed: {failed}", "status": 500}
        if self._stopped:
            if server.instance is not None:
                server.instance.remove()
            return
        with self.lock:
            operation.ended = datetime.now(timezone.utc)
            if error is None:
                operation.status, server.state = "Succeeded", "Ready"
            else:
                operation.status, operation.error = "Failed", error
                self.servers.pop(server.name.lower(), None)
            server.operation = None
        if error is not None and server.instance is not None:
            server.instance.remove()
        server.settled.set()

    def _restore(self, server: FlexibleServer, source: FlexibleServer, point: datetime) -> None:
        real = [b for b in source.backups if b.base is not None]
        before = [b for b in real if b.completed <= point]
        # A point before the first real backup lies in the fictional past: the data as the server was added.
        backup, target = (before[-1], point) if before else (real[0], None)
        source.instance.archive_now()
        server.instance = PostgresServer.restore(backup.base, source.instance.archive, target, server.address,
                                                 self.port)
        first = server.instance.base_backup(server.instance.work / "backups" / "1")
        server.created = server.history_start = datetime.now(timezone.utc)
        server.backups = [Backup(first.completed, first)]

    # ----- delete ----------------------------------------------------------------------------------------
    def _delete(self, server: FlexibleServer, version: str) -> Response:
        if server.operation is not None:
            return self._busy(server)
        operation = Operation(str(uuid.uuid4()), "delete", server, _location_key(server.location), version)
        self.operations[operation.id] = operation
        server.operation, server.state = operation.id, "Dropping"
        server.settled.clear()

        def drop() -> None:
            operation.go.wait(self.scenario.delete_seconds)
            if server.instance is not None:
                server.instance.remove()
            with self.lock:
                self.servers.pop(server.name.lower(), None)
                operation.status, operation.ended = "Succeeded", datetime.now(timezone.utc)
                server.operation = None
            server.settled.set()

        threading.Thread(target=drop, name=f"drop-{server.name}", daemon=True).start()
        return Response(202, None, self._lro_headers(operation))

    def _busy(self, server: FlexibleServer) -> Response:
        operation = self.operations[server.operation]
        return arm_error(409, "OperationInProgress",
                         f"An operation ({operation.kind}, id {operation.id}, started {iso(operation.started)}) is "
                         f"in progress on server '{server.name}'. Retry after it completes.")

    # ----- the operation's status ------------------------------------------------------------------------
    def _lro_headers(self, operation: Operation) -> dict[str, str]:
        base = (f"{self._base_url()}/subscriptions/{operation.server.subscription}/providers/Microsoft.DBforPostgreSQL"
                f"/locations/{operation.location}")
        headers = {"Azure-AsyncOperation": f"{base}/azureAsyncOperation/{operation.id}?api-version={operation.api_version}",
                   "Location": f"{base}/operationResults/{operation.id}?api-version={operation.api_version}"}
        if self.scenario.retry_after is not None:
            headers["Retry-After"] = self.scenario.retry_after
        return headers

    def _operation(self, kind: str, operation_id: str, subscription: str) -> Response:
        operation = self.operations.get(operation_id)
        if operation is None or operation.server.subscription.lower() != subscription.lower():
            return arm_error(404, "ResourceNotFound", f"The operation '{operation_id}' was not found.")
        retry = {"Retry-After": self.scenario.retry_after} if self.scenario.retry_after is not None else {}
        if kind == "operationresults":
            if operation.status == "InProgress":
                return Response(202, None, {**self._lro_headers(operation), **retry})
            if operation.status == "Failed":
                error = operation.error or {}
                return arm_error(int(error.get("status", 400)), error.get("code", "Failed"),
                                 error.get("message", "The operation failed."))
            if operation.kind == "delete":
                return Response(204)
            return Response(200, self._body(operation.server))
        body: dict[str, Any] = {"name": operation.id, "status": operation.status,
                                "startTime": iso(operation.started)}
        if operation.ended:
            body["endTime"] = iso(operation.ended)
        if operation.status == "Failed":
            error = operation.error or {}
            body["error"] = {"code": error.get("code", "Failed"), "message": error.get("message", "")}
        return Response(200, body, retry if operation.status == "InProgress" else {})

    # ----- bodies (shaped like the official examples) ----------------------------------------------------
    def _page(self, request: Request, items: list, render: Callable[[Any], dict]) -> Response:
        size = self.scenario.page_size
        start = int(request.query.get("$skiptoken", "0") or 0)
        chunk = items[start:start + size] if size else items[start:]
        body: dict[str, Any] = {"value": [render(item) for item in chunk]}
        if size and start + size < len(items):
            body["nextLink"] = (f"{self._base_url()}{request.path}?api-version={request.query['api-version']}"
                                f"&$skiptoken={start + size}")
        return Response(200, body)

    def _body(self, server: FlexibleServer) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "replica": {"role": "Primary", "capacity": 5},
            "storage": {"type": "", "iops": 500, "tier": "P10", "storageSizeGB": server.storage_gb,
                        "autoGrow": "Disabled"},
            "network": {"publicNetworkAccess": "Enabled"},
            "privateEndpointConnections": [],
            "dataEncryption": {"type": "SystemManaged"},
            "authConfig": {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled"},
            "fullyQualifiedDomainName": server.address,
            "version": server.version, "minorVersion": server.minor_version,
            "administratorLogin": server.administrator_login,
            "state": server.state,
            "availabilityZone": "1",
            "backup": {"backupRetentionDays": server.retention_days, "geoRedundantBackup": "Disabled"},
            "highAvailability": {"mode": "Disabled", "state": "NotEnabled"},
            "maintenanceWindow": {"customWindow": "Disabled", "dayOfWeek": 0, "startHour": 0, "startMinute": 0},
            "replicationRole": "Primary", "replicaCapacity": 5,
        }
        if server.state != "Provisioning":
            properties["backup"]["earliestRestoreDate"] = iso(server.earliest_restore)
        if server.source_id:
            properties["sourceServerResourceId"] = server.source_id
        return {"sku": dict(server.sku), "systemData": {"createdAt": iso(server.created)},
                "properties": properties, "location": server.location, "tags": dict(server.tags),
                "id": server.id, "name": server.name, "type": SERVER_TYPE}

    @staticmethod
    def _backup_body(server: FlexibleServer, backup: Backup) -> dict[str, Any]:
        return {"properties": {"backupType": backup.backup_type, "source": backup.source,
                               "completedTime": _offset_iso(backup.completed)},
                "id": f"{server.id}/backups/{backup.name}", "name": backup.name,
                "type": f"{SERVER_TYPE}/backups"}


def _not_found(name: str, resource_group: str) -> Response:
    return arm_error(404, "ResourceNotFound",
                     f"The Resource '{SERVER_TYPE}/{name}' under resource group '{resource_group}' was not found. "
                     f"For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def _method_not_allowed(request: Request) -> Response:
    return arm_error(405, "MethodNotAllowed", f"{request.method} {request.path} is not supported.")

