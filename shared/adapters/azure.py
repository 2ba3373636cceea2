"""Credentials, SDK client options, and the translation of Azure SDK errors into the responder's tree
(shared/errors.py). Only this module and the adapters next to it import azure.core or an Azure SDK,
and they import the SDKs on first use: each costs 0.1-0.4 s to import and cold start matters.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Iterator

from shared.config import Settings
from shared.errors import (
    AzureConflict,
    AzureOperationFailed,
    AzurePermissionDenied,
    AzureRequestRejected,
    AzureUnavailable,
    ConfigurationError,
    TargetNotFound,
)

EMULATOR_TOKEN = "emulator-token"
STORAGE_SCOPE = "https://storage.azure.com/.default"
LOGS_SCOPE = "https://api.loganalytics.io/.default"  # Log Analytics queries (the post-rollback watch)
_EMULATOR_TENANT = "00000000-0000-0000-0000-000000000000"


_JWT_AUDIENCES = {STORAGE_SCOPE: "https://storage.azure.com", LOGS_SCOPE: "https://api.loganalytics.io"}


def _emulator_token(scopes: tuple[str, ...], expires: int) -> str:
    """The fixed token for the emulator's ARM and Key Vault; for storage and Log Analytics, which check a token's
    audience, a JWT of the shape they check (an Entra issuer, the audience, iat/nbf/exp; no signature verified)."""
    audience = next((_JWT_AUDIENCES[scope] for scope in scopes if scope in _JWT_AUDIENCES), None)
    if audience is None:
        return EMULATOR_TOKEN
    import jwt

    now = int(time.time())
    claims = {"iss": f"https://sts.windows.net/{_EMULATOR_TENANT}/", "aud": audience,
              "iat": now, "nbf": now - 60, "exp": expires, "oid": "rollback-responder-emulator",
              "tid": _EMULATOR_TENANT}
    return jwt.encode(claims, "emulator-signing-key-not-a-secret-0123456789", algorithm="HS256")


class EmulatorCredential:
    """A fixed bearer token for the local emulator (a JWT for Azurite's storage); Settings refuses it unless
    ARM and storage are on loopback."""

    async def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        expires = int(time.time()) + 3600
        return AccessToken(_emulator_token(scopes, expires), expires)

    async def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        expires = int(time.time()) + 3600
        return AccessTokenInfo(_emulator_token(scopes, expires), expires)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> EmulatorCredential:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass


def make_credential(settings: Settings):
    """Managed identity in Azure (DefaultAzureCredential also covers `az login` on a laptop)."""
    if settings.credential == "emulator":
        return EmulatorCredential()
    if settings.credential == "managed-identity":
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)


class Trust:
    """How the SDK clients trust TLS. Without a CA bundle (Azure): the system's trust, nothing to do. With one
    (the local emulator's CA): one aiohttp session whose connector trusts it, shared by every client, because
    azure-core, given the bundle as `connection_verify`, builds a new SSL context from the file on every request,
    and aiohttp, seeing a new context each time, opens a new TLS connection for each: seconds of handshakes."""

    def __init__(self, ca_bundle: str | None):
        self.ca_bundle = ca_bundle
        self._session: Any = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for an SDK client (call from inside the running event loop)."""
        if not self.ca_bundle:
            return {}
        import ssl

        import aiohttp
        from azure.core.pipeline.transport import AioHttpTransport

        if self._session is None:
            context = ssl.create_default_context(cafile=self.ca_bundle)
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), trust_env=False)
        return {"transport": AioHttpTransport(session=self._session, session_owner=False)}

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def client_options(settings: Settings, trust: Trust | None = None) -> dict[str, Any]:
    """Keyword arguments every management client gets: endpoint, TLS trust, retries, timeouts, polling."""
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "credential_scopes": [settings.arm_scope],
        "retry_total": settings.arm_retry_total,
        "retry_backoff_factor": settings.arm_retry_backoff,
        "read_timeout": settings.arm_timeout,
        "connection_timeout": min(settings.arm_timeout, 10.0),
    }
    options.update((trust or Trust(settings.ca_bundle)).options())
    if settings.arm_polling_interval is not None:
        options["polling_interval"] = settings.arm_polling_interval
    return options


def error_of(body: Any) -> tuple[str | None, str | None]:
    """Azure's own error code and message from an error body, whichever of its shapes it has: ARM's
    `{"error": {"code", "message"}}`, or Microsoft.Web's legacy `{"Code", "Message", "Details": [...,
    {"ErrorEntity": {...}}]}` (which the SDK cannot parse: it reports only "invalid status 'Conflict'")."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body) if body else None
        except ValueError:
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            return None, text.strip()[:500] or None
    if not isinstance(body, dict):
        return None, None
    if isinstance(body.get("error"), dict):
        error = body["error"]
        return error.get("code"), error.get("message")
    code, message = body.get("Code"), body.get("Message")
    for detail in body.get("Details") or []:
        entity = detail.get("ErrorEntity") if isinstance(detail, dict) else None
        if isinstance(entity, dict):
            code, message = entity.get("Code") or code, entity.get("Message") or message
    return code, message


def _azure_message(error: Any) -> tuple[str | None, str]:
    """Azure's own error code and message: from the response body when it has one of Azure's error shapes,
    else from the SDK's parsed error, else the exception text."""
    code = message = None
    response = getattr(error, "response", None)
    if response is not None:
        with contextlib.suppress(Exception):
            code, message = error_of(response.text())
    if not message:
        odata = getattr(error, "error", None)
        code = code or getattr(odata, "code", None)
        message = getattr(odata, "message", None)
    if not message:
        message = str(getattr(error, "message", "") or error).strip()
        if code and message.startswith(f"({code})"):
            message = message[len(code) + 2:].strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    return code, first_line


def _retry_after(error: Any) -> float:
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(1.0, float(value)) if value else 10.0
    except ValueError:
        return 10.0


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run an SDK call; re-raise its failure as the responder's error, saying what was being done."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ClientAuthenticationError as error:
        code, message = _azure_message(error)
        raise AzurePermissionDenied(f"{what}: Azure did not accept the responder's identity"
                                    f"{f' ({code})' if code else ''}: {message}") from None
    except HttpResponseError as error:
        status = error.status_code or 0
        code, message = _azure_message(error)
        label = f"{what}: {code + ': ' if code else ''}{message}"
        if 200 <= status < 300:  # the request was accepted; the long-running operation itself ended badly
            raise AzureOperationFailed(f"{what} failed in Azure: {code + ': ' if code else ''}{message}",
                                       code) from None
        if status in (401, 403):
            raise AzurePermissionDenied(f"{label} (HTTP {status}; check the responder identity's role "
                                        f"assignment on the resource)") from None
        if status == 404:
            raise TargetNotFound(f"{label} (HTTP 404)") from None
        if status == 409:
            raise AzureConflict(f"{label} (HTTP 409)", delay=15.0) from None
        if status == 429 or status >= 500:
            raise AzureUnavailable(f"{label} (HTTP {status}, after the SDK's retries)",
                                   delay=_retry_after(error)) from None
        raise AzureRequestRejected(f"{label} (HTTP {status})") from None
    except (ServiceRequestError, ServiceResponseError) as error:
        raise AzureUnavailable(f"{what}: Azure unreachable ({type(error).__name__}: "
                               f"{str(error).splitlines()[0][:200]})", delay=10.0) from None
    except ValueError as error:  # the SDK's own argument checks
        raise ConfigurationError(f"{what}: {error}") from None
