"""Who is calling the command API, and may they? The function key only proves the caller knows the URL;
changing production needs an identity with a role:

  * a Microsoft Entra ID bearer token, validated here (PyJWT): signature against the configured JWKS,
    issuer, audience, expiry; or
  * App Service Authentication's X-MS-CLIENT-PRINCIPAL header, trusted only when the setting says the
    platform's authentication is on (otherwise anyone could send that header).

Roles (app roles in the token's `roles` claim): Responder.Operator requests actions, Responder.Approver
approves them. 401 means no or an invalid identity, 403 a missing role; the JSON body says which.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
from dataclasses import dataclass
from typing import Any, Mapping

from shared.config import Settings
from shared.errors import RequestRefused

OPERATOR = "Responder.Operator"
APPROVER = "Responder.Approver"
_OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


@dataclass(frozen=True)
class Caller:
    id: str
    name: str
    roles: frozenset[str]
    via: str

    def __str__(self) -> str:
        return f"{self.name} ({self.id}, {self.via})"


def unauthorized(message: str) -> RequestRefused:
    return RequestRefused(401, "unauthorized", message)


def require(caller: Caller, *roles: str) -> None:
    """403 unless the caller has one of `roles`."""
    if not caller.roles.intersection(roles):
        held = ", ".join(sorted(caller.roles)) or "none"
        raise RequestRefused(403, "forbidden", f"{caller.name} lacks the role {' or '.join(roles)} (has: {held})")


class Authenticator:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._jwks = None
        if settings.jwks_url:
            from jwt import PyJWKClient

            context = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else None
            self._jwks = PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=3600, timeout=10,
                                     ssl_context=context)

    @property
    def _trusts_platform_auth(self) -> bool:
        """Only when the setting says so *and* App Service says its authentication is on (it sets
        WEBSITE_AUTH_ENABLED and strips client-sent X-MS-CLIENT-PRINCIPAL headers then)."""
        return self._settings.trust_app_service_auth and self._settings.platform_auth_enabled

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """`headers` as the Functions host gives them (case-insensitive)."""
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise unauthorized("the Authorization header must be 'Bearer <token>'")
            return await self._from_token(token.strip())
        principal = headers.get("x-ms-client-principal")
        if principal and self._trusts_platform_auth:
            return _from_principal(principal, headers.get("x-ms-client-principal-name"))
        ways = ["a Microsoft Entra ID bearer token (Authorization: Bearer ...)"]
        if self._trusts_platform_auth:
            ways.append("a sign-in through App Service Authentication")
        raise unauthorized(f"no caller identity: this action changes production and needs {' or '.join(ways)}")

    async def _from_token(self, token: str) -> Caller:
        import jwt

        if self._jwks is None:
            raise unauthorized("bearer tokens are not accepted here: RESPONDER_JWKS_URL, RESPONDER_JWT_ISSUER and "
                               "RESPONDER_JWT_AUDIENCE are not set")
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self._settings.jwt_audience,
                                issuer=self._settings.jwt_issuer, leeway=30,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("the bearer token has expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized(f"the bearer token is not for this API (audience must be "
                               f"{self._settings.jwt_audience})") from None
        except jwt.InvalidIssuerError:
            raise unauthorized(f"the bearer token's issuer is not {self._settings.jwt_issuer}") from None
        except jwt.PyJWKClientConnectionError:
            raise RequestRefused(503, "keys_unavailable", "cannot fetch the token signing keys; retry later") from None
        except jwt.PyJWKClientError:
            raise unauthorized("the bearer token is signed by a key the issuer does not publish") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("the bearer token's signature is not valid") from None
        except jwt.InvalidTokenError as error:
            raise unauthorized(f"the bearer token is not valid: {error}") from None
        subject = claims.get("oid") or claims.get("sub")
        if not subject:
            raise unauthorized("the bearer token names no subject (oid or sub)")
        name = (claims.get("preferred_username") or claims.get("upn") or claims.get("name") or claims.get("azp")
                or claims.get("appid") or subject)
        return Caller(str(subject), str(name), frozenset(map(str, claims.get("roles") or [])), "bearer token")


def _from_principal(encoded: str, name_header: str | None) -> Caller:
    try:
        principal: dict[str, Any] = json.loads(base64.b64decode(encoded, validate=False))
        claims = [(c["typ"], c["val"]) for c in principal.get("claims", [])]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise unauthorized("the X-MS-CLIENT-PRINCIPAL header is not what App Service Authentication sends") from None
    role_type = principal.get("role_typ") or "roles"
    name_type = principal.get("name_typ") or "name"
    values: dict[str, str] = {}
    for claim_type, value in claims:
        values.setdefault(claim_type, value)
    subject = values.get(_OBJECT_ID) or values.get("oid") or values.get("sub")
    if not subject:
        raise unauthorized("the App Service principal names no object id")
    name = values.get(name_type) or values.get("preferred_username") or name_header or subject
    roles = frozenset(value for claim_type, value in claims if claim_type in (role_type, "roles"))
    return Caller(subject, name, roles, "App Service Authentication")
