"""Microsoft Entra ID access tokens as a tenant really issues them, validated with PyJWT.

An app registration gets v1 tokens unless its manifest says `accessTokenAcceptedVersion: 2`:

  * v1: `iss` https://sts.windows.net/{tenant}/, `ver` "1.0", `aud` the Application ID URI (or the client id
    when the client asked for the API by its id), the calling app in `appid`;
  * v2: `iss` https://login.microsoftonline.com/{tenant}/v2.0, `ver` "2.0", `aud` the client id, the app in `azp`.

Both are signed (RS256) by the tenant's keys, published at {login}/{tenant}/discovery/v2.0/keys. Anything else
is refused with the reason: another tenant or audience, an issuer that does not match `ver`, a `tid` that is
not the tenant, expired or not yet valid, a key the tenant does not publish, another algorithm. Requiring
`appid`/`azp` also refuses ID tokens, which carry the same issuer, audience and even roles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlparse

from shared.decide.callers import canonical_guid, roles_of
from shared.errors import RequestRefused

log = logging.getLogger("responder.auth")

# The "AzNS AAD Webhook" app Azure Monitor action groups use for Secure Webhook (public cloud appId).
AZNS_AAD_WEBHOOK_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"
DEFAULT_LOGIN_ENDPOINT = "https://login.microsoftonline.com"

# Per cloud (by login host): where v1 and v2 tokens say they come from. The v1 issuer is not the login
# host in any cloud, and China's v2 issuer is not its login host either (Microsoft Q&A 1190472).
_ISSUER_BASES = {
    "login.microsoftonline.com": ("https://sts.windows.net", "https://login.microsoftonline.com"),
    "login.microsoftonline.us": ("https://sts.windows.net", "https://login.microsoftonline.us"),
    "login.chinacloudapi.cn": ("https://sts.chinacloudapi.cn", "https://login.partner.microsoftonline.cn"),
    "login.partner.microsoftonline.cn": ("https://sts.chinacloudapi.cn", "https://login.partner.microsoftonline.cn"),
}
KNOWN_LOGIN_HOSTS = tuple(_ISSUER_BASES)

_KEYS_TIMEOUT = 3.0  # seconds for one JWKS fetch: well inside Azure Monitor's 10 s answer budget
_KEYS_LIFESPAN = 3600.0  # the key set is fetched again after an hour (an unknown kid fetches it sooner)
_UNKNOWN_KID_COOLDOWN = 30.0  # at most one forced refetch per 30 s for kids the set does not hold
_FAILED_FETCH_HOLD = 2.0  # after a failed fetch, refuse at once for this long instead of queueing more fetches


def _shown(value: Any) -> str:
    """A claim from an unverified token, quoted and cut short for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def unauthorized(message: str) -> RequestRefused:
    return RequestRefused(401, "unauthorized", message)


def keys_unavailable(detail: str) -> RequestRefused:
    return RequestRefused(503, "keys_unavailable", f"cannot fetch the token signing keys of Microsoft Entra ID "
                                                   f"({detail}); retry later")


@dataclass(frozen=True)
class Tenant:
    """What a token must say to be ours, derived from the tenant, the app registration and the cloud."""

    tenant_id: str  # canonical GUID
    client_id: str  # canonical GUID
    app_id_uri: str
    login_endpoint: str = DEFAULT_LOGIN_ENDPOINT
    keys_url_override: str | None = None

    @property
    def _bases(self) -> tuple[str, str]:
        return _ISSUER_BASES[urlparse(self.login_endpoint).hostname or ""]

    @property
    def issuers(self) -> dict[str, str]:
        """The issuer each token version must carry, by `ver`."""
        v1, v2 = self._bases
        return {"1.0": f"{v1}/{self.tenant_id}/", "2.0": f"{v2}/{self.tenant_id}/v2.0"}

    @property
    def audiences(self) -> dict[str, tuple[str, ...]]:
        """v2 tokens always carry the client id; v1 tokens the Application ID URI or, when asked by id, the
        client id. A v2 token naming the URI is not something Entra issues, so it is refused."""
        return {"1.0": (self.app_id_uri, self.client_id), "2.0": (self.client_id,)}

    @property
    def keys_url(self) -> str:
        return self.keys_url_override or f"{self.login_endpoint}/{self.tenant_id}/discovery/v2.0/keys"


@dataclass(frozen=True)
class AccessToken:
    """The claims of a validated token that this app uses."""

    version: str
    tenant_id: str  # canonical GUID
    object_id: str  # canonical GUID of the user or service principal
    app_id: str  # the calling app (appid in v1, azp in v2), canonical GUID when it is one
    roles: frozenset[str]
    name: str


class SigningKeys:
    """The tenant's signing keys: PyJWKClient's cached key set (an hour), read without a thread while it holds
    the kid; a fetch runs in a thread, one at a time. After a failed fetch every token is refused (503) for a
    moment without asking again, so a dead endpoint cannot queue requests past Azure Monitor's 10 s."""

    def __init__(self, url: str, ca_bundle: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.url, self._ca_bundle, self._clock = url, ca_bundle, clock
        self._jwk_client = None
        self._lock: asyncio.Lock | None = None
        self._refuse_until = 0.0

    @property
    def _client(self):
        """Built on first use, so a cold start that sees no token never imports PyJWT."""
        if self._jwk_client is None:
            import ssl

            from jwt import PyJWKClient

            context = ssl.create_default_context(cafile=self._ca_bundle) if self._ca_bundle else None
            # cache_keys stays off: its per-kid cache never expires, so a key the tenant withdrew would stay
            # trusted.
            self._jwk_client = PyJWKClient(self.url, cache_keys=False, cache_jwk_set=True, lifespan=_KEYS_LIFESPAN,
                                           timeout=_KEYS_TIMEOUT, ssl_context=context,
                                           cooldown_duration=_UNKNOWN_KID_COOLDOWN)
        return self._jwk_client

    def _cached(self, kid: str):
        cache = self._client.jwk_set_cache
        keys = cache.get() if cache is not None else None
        if keys is None:
            return None
        return next((key for key in keys.keys if key.key_id == kid and key.public_key_use in ("sig", None)), None)

    async def key_for(self, kid: str):
        """The PyJWK with this kid; 401 if the tenant does not publish it, 503 if the keys cannot be fetched."""
        from jwt import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

        key = self._cached(kid)
        if key is not None:
            return key
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._clock() < self._refuse_until:
                raise keys_unavailable("the last fetch failed a moment ago")
            try:
                return await asyncio.to_thread(self._client.get_signing_key, kid)
            except (PyJWKClientConnectionError, PyJWKSetError, ValueError) as error:
                # ValueError: the endpoint answered something that is not JSON.
                self._refuse_until = self._clock() + _FAILED_FETCH_HOLD
                log.warning("fetching the token signing keys from %s failed: %s", self.url, error)
                what = ("the keys endpoint did not answer" if isinstance(error, PyJWKClientConnectionError)
                        else "the keys endpoint answered no usable key set")
                raise keys_unavailable(what) from None
            except PyJWKClientError:
                raise unauthorized("the bearer token is signed by a key the tenant does not publish") from None


class AccessTokens:
    """Validates bearer tokens for one tenant and app registration."""

    def __init__(self, tenant: Tenant, keys: SigningKeys):
        self.tenant, self._keys = tenant, keys

    async def validate(self, token: str) -> AccessToken:
        """The token's claims, or RequestRefused: 401 saying what is wrong, 503 if the keys are unavailable."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise unauthorized("the bearer token is not valid: it is not a JSON Web Token") from None
        if header.get("alg") != "RS256":
            raise unauthorized(f"the bearer token is signed with {_shown(header.get('alg'))}; only RS256 is "
                               f"accepted")
        if not isinstance(header.get("kid"), str):
            raise unauthorized("the bearer token names no signing key (kid)")
        version = unverified.get("ver")
        if not isinstance(version, str) or version not in self.tenant.issuers:
            raise unauthorized(f"the bearer token's ver is {_shown(version)}; Microsoft Entra ID access tokens "
                               f"say '1.0' or '2.0'")
        key = await self._keys.key_for(header["kid"])
        claims = self._decode(jwt, token, key, version, unverified)
        tenant = canonical_guid(claims.get("tid"))
        if tenant != self.tenant.tenant_id:
            raise unauthorized(f"the bearer token is for tenant {_shown(claims.get('tid'))}, not "
                               f"{self.tenant.tenant_id}")
        object_id = canonical_guid(claims.get("oid"))
        if object_id is None:
            raise unauthorized("the bearer token names no object id (oid) of a user or service principal")
        app_claim = "appid" if version == "1.0" else "azp"
        app_id = claims.get(app_claim)
        if not isinstance(app_id, str) or not app_id:
            raise unauthorized(f"the bearer token is not an access token: a v{version} access token names the "
                               f"calling app in {app_claim}")
        app_id = canonical_guid(app_id) or app_id
        name = next((str(claims[c]) for c in ("preferred_username", "upn", "unique_name", "name",
                                             "app_displayname") if claims.get(c)), app_id)
        return AccessToken(version, tenant, object_id, app_id, roles_of(claims.get("roles")), name)

    def _decode(self, jwt, token: str, key, version: str, unverified: dict[str, Any]) -> dict[str, Any]:
        issuer, audiences = self.tenant.issuers[version], self.tenant.audiences[version]
        try:
            return jwt.decode(token, key.key, algorithms=["RS256"], audience=list(audiences), issuer=issuer,
                              leeway=30, options={"require": ["exp", "nbf", "iss", "aud", "tid", "ver"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("the bearer token is not valid yet (nbf is in the future)") from None
        except jwt.InvalidAudienceError:
            raise unauthorized(f"the bearer token is not for this API: its audience is "
                               f"{_shown(unverified.get('aud'))}; a v{version} token must be for "
                               f"{' or '.join(audiences)}") from None
        except jwt.InvalidIssuerError:
            raise unauthorized(self._issuer_problem(unverified.get("iss"), version)) from None
        except jwt.InvalidSignatureError:
            raise unauthorized("the bearer token's signature is not valid") from None
        except jwt.MissingRequiredClaimError as error:
            raise unauthorized(f"the bearer token has no {error.claim} claim") from None
        except jwt.InvalidTokenError as error:
            raise unauthorized(f"the bearer token is not valid: {error}") from None

    def _issuer_problem(self, issuer: Any, version: str) -> str:
        other = {value: ver for ver, value in self.tenant.issuers.items()}.get(issuer) if isinstance(issuer, str) \
            else None
        if other is not None:
            return (f"the bearer token's issuer {issuer} is that of v{other} tokens, but its ver says {version}")
        return (f"the bearer token's issuer {_shown(issuer)} is not tenant {self.tenant.tenant_id} "
                f"(a v{version} token must say {self.tenant.issuers[version]})")
