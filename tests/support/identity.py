"""A stand-in for Microsoft Entra ID in tests: RSA signing keys generated here, their JWKS published by the
emulator over HTTPS, and tokens shaped like Entra's (oid, preferred_username, roles)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "api://rollback-responder"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.key, self.kid = new_key(), uuid.uuid4().hex
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        emulator.jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def settings_env(self) -> dict[str, str]:
        return {"RESPONDER_JWT_ISSUER": self.emulator.issuer, "RESPONDER_JWT_AUDIENCE": AUDIENCE,
                "RESPONDER_JWKS_URL": self.emulator.jwks_url}

    def token(self, *roles: str, oid: str | None = None, name: str = "alice@contoso.com",
              audience: str = AUDIENCE, issuer: str | None = None, expires_in: int = 600,
              key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"aud": audience, "iss": issuer or self.emulator.issuer, "iat": now, "nbf": now - 5,
                   "exp": now + expires_in, "oid": oid or str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                   "sub": uuid.uuid4().hex, "preferred_username": name, "roles": list(roles), **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def headers(self, *roles: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}


def client_principal(*roles: str, oid: str = "b0b0b0b0-0000-0000-0000-000000000001", name: str = "bob@contoso.com"
                     ) -> dict[str, str]:
    """The headers App Service Authentication adds for a signed-in user."""
    principal = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
                 "claims": [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
                            {"typ": "name", "val": name}, *({"typ": "roles", "val": role} for role in roles)]}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
            "X-MS-CLIENT-PRINCIPAL-NAME": name, "X-MS-CLIENT-PRINCIPAL-ID": oid}
