"""Who is calling, and may they? The function key only proves the caller knows the URL.

The command API needs an identity with a role to change production:

  * a Microsoft Entra ID bearer token, v1 or v2, validated here (shared/entra.py); or
  * App Service Authentication's X-MS-CLIENT-PRINCIPAL header, trusted only when the setting says the
    platform's authentication is on (otherwise anyone could send that header).

Roles (app roles in the token's `roles` claim): Responder.Operator requests actions, Responder.Approver
approves them. 401 means no or an invalid identity, 403 a missing role; the JSON body says which.

The alert intake takes Azure Monitor's Secure Webhook token: the "AzNS AAD Webhook" app holding our app role
ActionGroupsSecureWebhook. Required when RESPONDER_ALERTS_REQUIRE_TOKEN is on; otherwise the function key is
enough, but a token that is sent must be valid.

What a caller is once known (Caller, roles, same_person) is shared/decide/callers.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

from shared.config import Settings
from shared.adapters.entra import AccessToken, AccessTokens, SigningKeys, unauthorized
from shared.decide.callers import SECURE_WEBHOOK, Caller, canonical_guid, roles_of
from shared.errors import RequestRefused

_OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_TENANT_ID = "http://schemas.microsoft.com/identity/claims/tenantid"


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The bearer token of the Authorization header, None without one; 401 for another scheme."""
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Authenticator:
    def __init__(self, settings: Settings):
        self._settings = settings
        tenant = settings.entra_tenant
        self._tokens = (AccessTokens(tenant, SigningKeys(tenant.keys_url, settings.ca_bundle))
                        if tenant is not None else None)

    @property
    def _trusts_platform_auth(self) -> bool:
        """Only when the setting says so *and* App Service says its authentication is on (it sets
        WEBSITE_AUTH_ENABLED and strips client-sent X-MS-CLIENT-PRINCIPAL headers then)."""
        return self._settings.trust_app_service_auth and self._settings.platform_auth_enabled

    async def _validate(self, token: str) -> AccessToken:
        if self._tokens is None:
            raise unauthorized("bearer tokens are not accepted here: RESPONDER_ENTRA_TENANT_ID, "
                               "RESPONDER_ENTRA_CLIENT_ID and RESPONDER_ENTRA_APP_ID_URI are not set")
        return await self._tokens.validate(token)

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """The command API's caller; `headers` as the Functions host gives them (case-insensitive)."""
        token = _bearer(headers)
        if token is not None:
            claims = await self._validate(token)
            return Caller(claims.tenant_id, claims.object_id, claims.name, claims.roles, "bearer token")
        principal = headers.get("x-ms-client-principal")
        if principal and self._trusts_platform_auth:
            return self._from_principal(principal, headers.get("x-ms-client-principal-name"))
        ways = ["a Microsoft Entra ID bearer token (Authorization: Bearer ...)"]
        if self._trusts_platform_auth:
            ways.append("a sign-in through App Service Authentication")
        raise unauthorized(f"no caller identity: this action changes production and needs {' or '.join(ways)}")

    async def alert_sender(self, headers: Mapping[str, str]) -> AccessToken | None:
        """The Secure Webhook token of an alert delivery, or None for a plain webhook when that is allowed."""
        token = _bearer(headers)
        if token is None:
            if self._settings.alerts_require_token:
                raise unauthorized("no token: this endpoint takes alerts only from an Azure Monitor action group "
                                   "with Secure Webhook enabled (a Microsoft Entra ID bearer token)")
            return None
        claims = await self._validate(token)
        allowed = self._settings.alerts_token_app_ids
        if claims.app_id not in allowed:
            raise RequestRefused(403, "forbidden", f"the token was issued to app {claims.app_id}, not to Azure "
                                                   f"Monitor's AzNS AAD Webhook ({', '.join(sorted(allowed))})")
        if SECURE_WEBHOOK not in claims.roles:
            held = ", ".join(sorted(claims.roles)) or "none"
            raise RequestRefused(403, "forbidden", f"the AzNS AAD Webhook service principal lacks the app role "
                                                   f"{SECURE_WEBHOOK} (has: {held}): assign it on the app "
                                                   f"registration")
        return claims

    def _from_principal(self, encoded: str, name_header: str | None) -> Caller:
        try:
            principal: dict[str, Any] = json.loads(base64.b64decode(encoded, validate=False))
            claims = [(c["typ"], c["val"]) for c in principal.get("claims", [])]
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise unauthorized("the X-MS-CLIENT-PRINCIPAL header is not what App Service Authentication "
                               "sends") from None
        role_type = principal.get("role_typ") or "roles"
        name_type = principal.get("name_typ") or "name"
        values: dict[str, Any] = {}
        for claim_type, value in claims:
            values.setdefault(claim_type, value)
        object_id = canonical_guid(values.get(_OBJECT_ID) or values.get("oid"))
        if object_id is None:
            raise unauthorized("the App Service principal names no object id (a GUID)")
        tenant_id = canonical_guid(values.get(_TENANT_ID) or values.get("tid"))
        if tenant_id is None:
            raise unauthorized("the App Service principal names no tenant id (a GUID)")
        expected = self._settings.entra_tenant_id
        if expected is not None and tenant_id != expected:
            raise unauthorized(f"the App Service principal is from tenant {tenant_id}, not {expected}")
        name = values.get(name_type) or values.get("preferred_username") or name_header or object_id
        roles = frozenset().union(*(roles_of(value) for claim_type, value in claims
                                    if claim_type in (role_type, "roles")))
        return Caller(tenant_id, object_id, str(name), roles, "App Service Authentication")
