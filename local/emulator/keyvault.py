"""Key Vault secrets (data plane, api-version 2026-04-01) as the emulator serves them, with the 401 bearer
challenge the SDK expects on its first, body-less request. Shapes follow the official examples."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from local.emulator.server import Request, Response

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_SECRET = re.compile(r"^/secrets/(?P<name>[0-9a-zA-Z-]+)(?:/(?P<version>[^/]*))?/?$")


@dataclass
class Version:
    id: str
    value: str
    created: int


@dataclass
class KeyVault:
    base_url: str = ""
    expected_token: str = "emulator-token"
    secrets: dict[str, list[Version]] = field(default_factory=dict)

    def set(self, name: str, value: str) -> Version:
        version = Version(uuid.uuid4().hex, value, int(time.time()))
        self.secrets.setdefault(name.lower(), []).append(version)
        return version

    def _bundle(self, name: str, version: Version, with_value: bool = True) -> dict:
        body = {"id": f"{self.base_url}/secrets/{name}/{version.id}",
                "attributes": {"enabled": True, "created": version.created, "updated": version.created,
                               "recoveryLevel": "Recoverable+Purgeable"}}
        if with_value:
            body = {"value": version.value, **body}
        return body

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
            return Response(400, {"error": {"code": "BadParameter",
                                            "message": "The 'api-version' query parameter is missing."}})
        match = _SECRET.match(request.path)
        if not match:
            return Response(404, {"error": {"code": "NotFound", "message": f"{request.path} is not a secrets path"}})
        name, version = match["name"], match["version"]
        if request.method == "PUT" and version is None:
            body = request.body if isinstance(request.body, dict) else {}
            if "value" not in body:
                return Response(400, {"error": {"code": "BadParameter", "message": "Property value is required."}})
            return Response(200, self._bundle(name, self.set(name, str(body["value"]))))
        if request.method != "GET":
            return Response(405, {"error": {"code": "MethodNotAllowed", "message": f"{request.method} not supported"}})
        versions = self.secrets.get(name.lower())
        if not versions:
            return Response(404, {"error": {"code": "SecretNotFound",
                                            "message": f"A secret with (name/id) {name} was not found in this key "
                                                       f"vault. If you recently deleted this secret you may be able "
                                                       f"to recover it using the correct recovery command."}})
        if version == "versions":
            return Response(200, {"value": [self._bundle(name, v, with_value=False) for v in versions],
                                  "nextLink": None})
        chosen = versions[-1] if not version else next((v for v in versions if v.id == version), None)
        if chosen is None:
            return Response(404, {"error": {"code": "SecretNotFound",
                                            "message": f"A secret with (name/id) {name}/{version} was not found "
                                                       f"in this key vault."}})
        return Response(200, self._bundle(name, chosen))
