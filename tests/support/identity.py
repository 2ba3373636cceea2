"""A stand-in for Microsoft Entra ID in tests: RSA signing keys generated here, their JWKS published by the
emulator over HTTPS, and access tokens shaped as Entra issues them, v1 (sts.windows.net, aud the Application
ID URI, app in appid) and v2 (login.microsoftonline.com/.../v2.0, aud the client id, app in azp)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local.emulator.keyvault import TENANT

APP_ID_URI = "api://rollback-responder"
CLIENT_ID = "6f1c2a1e-8d3b-4c55-9e0a-5b7d9c1e2f30"  # the app registration of the responder
CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # a client app (Azure CLI) asking for a token
AZNS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"  # Azure Monitor's AzNS AAD Webhook
OTHER_TENANT = "0d2b6a36-1111-4f7e-9a55-3c0a8f6e7d21"
ISSUERS = {"1.0": f"https://sts.windows.net/{TENANT}/", "2.0": f"https://login.microsoftonline.com/{TENANT}/v2.0"}
_CLAIM_OPTIONS = {"version", "oid", "name", "app_id", "audience", "issuer", "tenant", "expires_in", "not_before"}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def object_id(name: str) -> str:
    """A stable object id per person, as Entra would give one."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


class Issuer:
    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.key, self.kid = new_key(), uuid.uuid4().hex
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        emulator.jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def settings_env(self) -> dict[str, str]:
        return {"RESPONDER_ENTRA_TENANT_ID": TENANT, "RESPONDER_ENTRA_CLIENT_ID": CLIENT_ID,
                "RESPONDER_ENTRA_APP_ID_URI": APP_ID_URI, "RESPONDER_ENTRA_JWKS_URL": self.emulator.jwks_url}

    def claims(self, *roles: str, version: str = "2.0", oid: str | None = None, name: str | None = "alice@contoso.com",
               app_id: str = CLI_APP_ID, audience: str | None = None, issuer: str | None = None,
               tenant: str = TENANT, expires_in: int = 600, not_before: int = -5) -> dict[str, Any]:
        """The payload Entra puts in an access token of `version` for this app registration."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "aud": audience or (APP_ID_URI if version == "1.0" else CLIENT_ID), "iss": issuer or ISSUERS[version],
            "iat": now, "nbf": now + not_before, "exp": now + expires_in, "ver": version, "tid": tenant,
            "oid": oid or object_id(name or app_id), "sub": uuid.uuid4().hex, "roles": list(roles)}
        if version == "1.0":
            payload.update(appid=app_id, appidacr="0")
            if name:
                payload.update(upn=name, unique_name=name)
        else:
            payload.update(azp=app_id, azpacr="0")
            if name:
                payload["preferred_username"] = name
        return payload

    def sign(self, payload: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             algorithm: str = "RS256") -> str:
        if algorithm.startswith("HS"):  # a forged token signed with a shared secret
            return jwt.encode(payload, "a-shared-secret-of-32-bytes-or-more", algorithm=algorithm,
                              headers={"kid": kid or self.kid})
        return jwt.encode(payload, key or self.key, algorithm=algorithm, headers={"kid": kid or self.kid})

    def token(self, *roles: str, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
              algorithm: str = "RS256", drop: tuple[str, ...] = (), **kwargs: Any) -> str:
        """`kwargs` go to `claims`, except those it does not know, which are added (or replace) as claims."""
        known = {name: kwargs.pop(name) for name in list(kwargs) if name in _CLAIM_OPTIONS}
        payload = {**self.claims(*roles, **known), **kwargs}
        for claim in drop:
            payload.pop(claim, None)
        return self.sign(payload, key=key, kid=kid, algorithm=algorithm)

    def headers(self, *roles: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}

    def webhook_headers(self, *roles: str, version: str = "1.0", app_id: str = AZNS_APP_ID, **kwargs: Any
                        ) -> dict[str, str]:
        """What an action group with Secure Webhook sends: an app-only token of the AzNS AAD Webhook app."""
        return self.headers(*roles, version=version, app_id=app_id, name=None, **kwargs)


def client_principal(*roles: str, oid: str = "b0b0b0b0-0000-0000-0000-000000000001", name: str = "bob@contoso.com",
                     tenant: str | None = TENANT) -> dict[str, str]:
    """The headers App Service Authentication adds for a signed-in user."""
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
              {"typ": "name", "val": name}, *({"typ": "roles", "val": role} for role in roles)]
    if tenant is not None:
        claims.append({"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tenant})
    principal = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": claims}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
            "X-MS-CLIENT-PRINCIPAL-NAME": name, "X-MS-CLIENT-PRINCIPAL-ID": oid}


class ManagedIdentity:
    """What a managed identity's credential does for an SDK client: for each scope it is asked, an Entra v1
    access token whose `aud` is that scope's resource (`https://api.loganalytics.io/.default` ->
    `https://api.loganalytics.io`), signed by `issuer`. `scopes` records what was asked, in order."""

    def __init__(self, issuer: Issuer, app_id: str = "5f3c1e2a-7b8d-4e9f-a0b1-c2d3e4f5a6b7", expires_in: int = 3600):
        self.issuer, self.app_id, self.expires_in = issuer, app_id, expires_in
        self.scopes: list[str] = []

    def _mint(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        self.scopes.extend(scopes)
        audience = scopes[0].removesuffix("/.default")
        token = self.issuer.token(version="1.0", audience=audience, app_id=self.app_id, name=None,
                                  expires_in=self.expires_in)
        return token, int(time.time()) + self.expires_in

    async def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(*self._mint(scopes))

    async def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(*self._mint(scopes))

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> ManagedIdentity:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass
