"""Key Vault secrets (data plane, api-version 2026-04-01) as the emulator serves them, with the 401 bearer
challenge the SDK expects on its first, body-less request. Shapes follow the official examples.

Every set makes a new version (200); a version can be read, updated (enabled, expiry, tags) and listed; a
deleted secret stays recoverable (soft delete, as every vault now has) until purged.

Where Azure's behaviour is not documented the stricter choice is made, and said so:
  * versions are listed in the order of their ids, which is no order in time: a client must sort by
    `attributes.created` (whole seconds: two versions set in one second cannot be told apart by it, so a client
    that needs "the previous version" records its id when it writes the next one);
  * a versionless GET answers the newest version or, when that one is disabled, 403 `SecretDisabled`: it never
    falls back to an older enabled version;
  * a deleted secret is at once in the deleted state (`/deletedsecrets/{name}` answers 200 right away).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from local.emulator.server import Request, Response

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RECOVERABLE_DAYS = 90
_NAME = r"(?P<name>[0-9a-zA-Z-]{1,127})"
_SECRET = re.compile(rf"^/secrets/{_NAME}(?:/(?P<version>[^/]*))?/?$")
_DELETED = re.compile(rf"^/deletedsecrets/{_NAME}(?P<recover>/recover)?/?$")
_MAX_RESULTS = 25


def _error(status: int, code: str, message: str, inner: str | None = None) -> Response:
    """Key Vault's error shape (KeyVaultError): {"error": {"code", "message", "innererror": {"code"}}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return Response(status, {"error": error})


@dataclass
class Version:
    id: str
    value: str
    created: int
    updated: int = 0
    enabled: bool = True
    not_before: int | None = None
    expires: int | None = None
    content_type: str | None = None
    tags: dict[str, str] | None = None


@dataclass
class Deleted:
    versions: list[Version]
    deleted: int
    name: str


@dataclass
class KeyVault:
    base_url: str = ""
    expected_token: str = "emulator-token"
    name: str = "augeo-production-kv"  # what App Service's VaultName= references and statuses call it
    secrets: dict[str, list[Version]] = field(default_factory=dict)  # by lower-case name, oldest first
    deleted: dict[str, Deleted] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # lower-case name -> the name as first set
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ----- scenario set-up -------------------------------------------------------------------------------
    def set(self, name: str, value: str, *, enabled: bool = True, content_type: str | None = None,
            tags: dict[str, str] | None = None) -> Version:
        """A new version of `name` (created now, by `clock`)."""
        now = int(self.clock())
        version = Version(uuid.uuid4().hex, value, now, now, enabled, content_type=content_type, tags=tags)
        with self.lock:
            self.names.setdefault(name.lower(), name)
            self.secrets.setdefault(name.lower(), []).append(version)
        return version

    def latest(self, name: str) -> Version | None:
        versions = self.secrets.get(name.lower())
        return versions[-1] if versions else None

    def disable(self, name: str, version: str | None = None) -> None:
        """Disable one version (the newest when None)."""
        with self.lock:
            versions = self.secrets[name.lower()]
            chosen = versions[-1] if version is None else next(v for v in versions if v.id == version)
            chosen.enabled, chosen.updated = False, int(self.clock())

    def delete(self, name: str) -> None:
        """Soft-delete `name`: recoverable, its name not reusable until recovered or purged."""
        with self.lock:
            versions = self.secrets.pop(name.lower())
            self.deleted[name.lower()] = Deleted(versions, int(self.clock()), self.names[name.lower()])

    # ----- bodies ----------------------------------------------------------------------------------------
    def _attributes(self, version: Version) -> dict[str, Any]:
        attributes: dict[str, Any] = {"enabled": version.enabled, "created": version.created,
                                      "updated": version.updated or version.created,
                                      "recoverableDays": RECOVERABLE_DAYS, "recoveryLevel": "Recoverable+Purgeable"}
        if version.not_before is not None:
            attributes["nbf"] = version.not_before
        if version.expires is not None:
            attributes["exp"] = version.expires
        return attributes

    def _bundle(self, name: str, version: Version, with_value: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"id": f"{self.base_url}/secrets/{name}/{version.id}",
                                "attributes": self._attributes(version)}
        if with_value:
            body = {"value": version.value, **body}
        if version.content_type is not None:
            body["contentType"] = version.content_type
        if version.tags:
            body["tags"] = dict(version.tags)
        return body

    def _deleted_bundle(self, entry: Deleted) -> dict[str, Any]:
        body = self._bundle(entry.name, entry.versions[-1], with_value=False)
        return {"recoveryId": f"{self.base_url}/deletedsecrets/{entry.name}", "deletedDate": entry.deleted,
                "scheduledPurgeDate": entry.deleted + RECOVERABLE_DAYS * 86400, **body}

    # ----- routing ---------------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        authorization = request.headers.get("Authorization") or request.headers.get("authorization")
        challenge = {"WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                                        f'resource="https://vault.azure.net"'}
        if not authorization:
            return Response(401, {"error": {"code": "Unauthorized",
                                            "message": "AKV10000: Request is missing a Bearer or PoP token."}}, challenge)
        if authorization != f"Bearer {self.expected_token}":
            return Response(401, {"error": {"code": "Unauthorized", "message": "AKV10032: Invalid issuer."}}, challenge)
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "The 'api-version' query parameter is missing.")
        with self.lock:
            if request.path.rstrip("/") == "/secrets" and request.method == "GET":
                return self._list_secrets(request)
            deleted = _DELETED.match(request.path)
            if deleted:
                return self._deleted_route(request, deleted["name"], bool(deleted["recover"]))
            match = _SECRET.match(request.path)
            if not match:
                return _error(404, "NotFound", f"{request.path} is not a secrets path")
            return self._secret_route(request, match["name"], match["version"])

    def _secret_route(self, request: Request, name: str, version: str | None) -> Response:
        key = name.lower()
        if request.method == "PUT" and version is None:
            return self._set(request, name)
        if request.method == "DELETE" and not version:
            if key not in self.secrets:
                return self._not_found(name)
            self.delete(name)
            return Response(200, self._deleted_bundle(self.deleted[key]))
        versions = self.secrets.get(key)
        if request.method not in ("GET", "PATCH"):
            return _error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}")
        if not versions:
            return self._not_found(name)
        shown = self.names.get(key, name)
        if version == "versions" and request.method == "GET":
            return self._list_versions(request, shown, versions)
        chosen = versions[-1] if not version else next((v for v in versions if v.id == version), None)
        if chosen is None:
            return self._not_found(f"{name}/{version}")
        if request.method == "PATCH":  # without a version: the newest one
            return self._update(request, shown, chosen)
        if not chosen.enabled:
            return _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return Response(200, self._bundle(shown, chosen))

    def _set(self, request: Request, name: str) -> Response:
        key = name.lower()
        if key in self.deleted:
            shown = self.deleted[key].name
            return _error(409, "Conflict", f"Secret {shown} is currently in a deleted but recoverable state, and its "
                                           f"name cannot be reused; in this state, the secret can only be recovered "
                                           f"or purged.", "ObjectIsDeletedButRecoverable")
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("value"), str):
            return _error(400, "BadParameter", "Property value is required.")
        attributes = body.get("attributes") if isinstance(body.get("attributes"), dict) else {}
        version = self.set(name, body["value"], enabled=attributes.get("enabled", True) is not False,
                           content_type=body.get("contentType"), tags=body.get("tags"))
        version.not_before, version.expires = attributes.get("nbf"), attributes.get("exp")
        return Response(200, self._bundle(self.names[key], version))

    def _update(self, request: Request, name: str, version: Version) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        attributes = body.get("attributes") if isinstance(body.get("attributes"), dict) else {}
        if "enabled" in attributes:
            version.enabled = bool(attributes["enabled"])
        if "nbf" in attributes:
            version.not_before = attributes["nbf"]
        if "exp" in attributes:
            version.expires = attributes["exp"]
        if "contentType" in body:
            version.content_type = body["contentType"]
        if "tags" in body:
            version.tags = body["tags"]
        version.updated = int(self.clock())
        return Response(200, self._bundle(name, version, with_value=False))  # an update never returns the value

    def _page(self, request: Request, items: list[dict[str, Any]], path: str) -> Response:
        raw = request.query.get("maxresults", str(_MAX_RESULTS))
        if not raw.isdigit() or not 1 <= int(raw) <= _MAX_RESULTS:
            return _error(400, "BadParameter", f"maxresults must be an integer from 1 to {_MAX_RESULTS}, not {raw!r}.")
        size, start = int(raw), int(request.query.get("$skiptoken", "0") or 0)
        body: dict[str, Any] = {"value": items[start:start + size], "nextLink": None}
        if start + size < len(items):
            body["nextLink"] = (f"{self.base_url}{path}?api-version={request.query['api-version']}"
                                f"&$skiptoken={start + size}&maxresults={size}")
        return Response(200, body)

    def _list_versions(self, request: Request, name: str, versions: list[Version]) -> Response:
        ordered = sorted(versions, key=lambda v: v.id)  # by id: no order in time (see the module's docstring)
        items = [self._bundle(name, v, with_value=False) for v in ordered]
        return self._page(request, items, f"/secrets/{name}/versions")

    def _list_secrets(self, request: Request) -> Response:
        items = []
        for key in sorted(self.secrets):
            body = self._bundle(self.names[key], self.secrets[key][-1], with_value=False)
            body["id"] = f"{self.base_url}/secrets/{self.names[key]}"
            items.append(body)
        return self._page(request, items, "/secrets")

    def _deleted_route(self, request: Request, name: str, recover: bool) -> Response:
        entry = self.deleted.get(name.lower())
        if entry is None:
            return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        if recover and request.method == "POST":
            del self.deleted[name.lower()]
            self.secrets[name.lower()] = entry.versions
            return Response(200, self._bundle(entry.name, entry.versions[-1], with_value=False))
        if not recover and request.method == "GET":
            return Response(200, self._deleted_bundle(entry))
        if not recover and request.method == "DELETE":
            del self.deleted[name.lower()]
            self.names.pop(name.lower(), None)
            return Response(204)
        return _error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}")

    @staticmethod
    def _not_found(name: str) -> Response:
        return _error(404, "SecretNotFound",
                      f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted "
                      f"this secret you may be able to recover it using the correct recovery command. For help "
                      f"resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")
