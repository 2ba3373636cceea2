"""The storage account of AzureWebJobsStorage (incident tables, run queue), read as the Functions host reads it,
and the table and queue clients on it, with timeouts and retries that fit Azure Monitor's 10 s webhook.

The host accepts a connection in two forms (Microsoft.Azure.WebJobs.Extensions.Clients, StorageClientProvider):

    AzureWebJobsStorage                     a connection string (shared key); honoured first when present
    AzureWebJobsStorage__accountName        identity: https://<account>.table|queue.core.windows.net
    AzureWebJobsStorage__tableServiceUri    identity, explicit endpoints (sovereign clouds, private DNS);
    AzureWebJobsStorage__queueServiceUri      used only without accountName, which the host takes first
    AzureWebJobsStorage__credential         managedidentity (the host's only value for it in Azure)
    AzureWebJobsStorage__clientId           a user-assigned identity's client id

The app follows the same precedence, so it enqueues on the very queue the host's trigger listens to. The
SDKs are imported on first use (cold start matters).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping
from urllib.parse import urlparse

from shared.errors import ConfigurationError, StoreError, StoreRejected

if TYPE_CHECKING:
    from shared.config import Settings

HOST_STORAGE = "AzureWebJobsStorage"
WEBHOOK_BUDGET = 9.0  # seconds one storage call may take at most: Azure Monitor waits 10 s for the webhook
Service = Literal["table", "queue"]
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StoragePolicy:
    """Timeouts and retries of every table and queue call (RESPONDER_STORAGE_*).

    The defaults give 2 attempts x (1.5 s connect + 2 s read) + one back-off of at most 0.75 s = 7.75 s in
    the worst case, under the intake's deadline (RESPONDER_INTAKE_DEADLINE, 8 s) and so under Azure Monitor's
    10 s: the webhook's 503 then says what failed rather than only that time ran out. The SDK defaults (queue: 4 attempts, 15-24 s back-offs, 20 s connect, 60 s read) made an alert
    wait 85-88 s for its 503 when the queue was unreachable.
    """

    retry_total: int = 1
    retry_backoff: float = 0.5
    connect_timeout: float = 1.5
    read_timeout: float = 2.0

    def _queue_backoffs(self) -> list[float]:
        # azure-storage-queue's ExponentialRetry waits initial_backoff + increment_base**k before retry k (k from
        # 1), jittered by +/- random_jitter_range; increment_base 0 makes that a constant back-off, +/- half
        return [self.retry_backoff * 1.5] * self.retry_total

    def _table_backoffs(self) -> list[float]:
        # azure-core's RetryPolicy in fixed mode: the first retry is immediate, later ones wait the back-off
        return [0.0] + [self.retry_backoff] * max(self.retry_total - 1, 0) if self.retry_total else []

    def worst_case(self) -> float:
        """The longest one storage call can take: every attempt waits out both timeouts, every back-off is
        at its longest. (A 503 with a Retry-After header would be waited out by the table client; Table
        Storage sends none with ServerBusy.)"""
        attempts = self.retry_total + 1
        return attempts * (self.connect_timeout + self.read_timeout) + max(sum(self._queue_backoffs()),
                                                                           sum(self._table_backoffs()))

    def table_options(self) -> dict[str, Any]:
        from azure.core.pipeline.policies import RetryMode

        return {"retry_total": self.retry_total, "retry_backoff_factor": self.retry_backoff,
                "retry_mode": RetryMode.Fixed, "connection_timeout": self.connect_timeout,
                "read_timeout": self.read_timeout}

    def queue_options(self) -> dict[str, Any]:
        # the async QueueClient builds its ExponentialRetry from these keywords
        return {"retry_total": self.retry_total, "initial_backoff": self.retry_backoff, "increment_base": 0,
                "random_jitter_range": self.retry_backoff / 2, "connection_timeout": self.connect_timeout,
                "read_timeout": self.read_timeout}


@dataclass(frozen=True)
class StorageConnection:
    """One storage connection as app settings give it: a connection string, or the identity-based form."""

    prefix: str = HOST_STORAGE
    connection_string: str | None = None
    account_name: str | None = None
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    credential: str | None = None
    client_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = HOST_STORAGE) -> StorageConnection:
        """Read `prefix` and `prefix__<property>`; names are case-insensitive, as in the host's configuration."""
        return cls(prefix, *(setting(env, name) for name in (
            prefix, f"{prefix}__accountName", f"{prefix}__tableServiceUri", f"{prefix}__queueServiceUri",
            f"{prefix}__credential", f"{prefix}__clientId")))

    @property
    def identity_based(self) -> bool:
        return not self.connection_string

    def endpoint(self, service: Service) -> str:
        """The service's base URL in the identity form: accountName first, as the host does, else its URI."""
        if self.account_name:
            return f"https://{self.account_name}.{service}.core.windows.net"
        uri = self.table_service_uri if service == "table" else self.queue_service_uri
        if not uri:
            raise ConfigurationError(f"{self.prefix}: no {service} endpoint ({'; '.join(self.problems())})")
        return uri.rstrip("/")

    def problems(self) -> list[str]:
        """What keeps the app from reaching this account, each naming its setting (empty: nothing)."""
        p = self.prefix
        if self.connection_string:
            return []  # the host uses the connection string and ignores the rest; so does the app
        problems = []
        if self.credential is not None and self.credential.lower() != "managedidentity":
            problems.append(f"{p}__credential: must be managedidentity (or unset, for the app's credential, "
                            f"RESPONDER_CREDENTIAL), not {self.credential!r}")
        if self.account_name is not None and not _ACCOUNT_NAME.match(self.account_name):
            problems.append(f"{p}__accountName: a storage account name is 3-24 lowercase letters and digits")
        for suffix, uri in (("tableServiceUri", self.table_service_uri), ("queueServiceUri", self.queue_service_uri)):
            if uri is not None and (urlparse(uri).scheme != "https" or not urlparse(uri).hostname):
                problems.append(f"{p}__{suffix}: must be an https:// URL (storage refuses bearer tokens over "
                                f"plain http)")
        if self.account_name is None:
            missing = [f"{p}__{suffix}" for suffix, uri in (("tableServiceUri", self.table_service_uri),
                                                            ("queueServiceUri", self.queue_service_uri)) if not uri]
            if len(missing) == 2 and not (self.credential or self.client_id):
                problems.append(f"{p}: required: a storage connection string, or an identity-based connection "
                                f"({p}__accountName, or {p}__tableServiceUri and {p}__queueServiceUri)")
            elif missing:
                problems.append(f"{', '.join(missing)}: required with the identity-based {p} (or set "
                                f"{p}__accountName): the incident tables and the run queue both live there")
        return problems

    def loopback(self) -> bool:
        return all(urlparse(self.endpoint(service)).hostname in _LOOPBACK for service in ("table", "queue"))


def setting(env: Mapping[str, str], name: str) -> str | None:
    """An app setting, its name matched case-insensitively (App Service keeps the case it was given; the host's
    configuration ignores it); empty counts as unset."""
    value = env.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for key, v in env.items() if key.lower() == lowered), None)
    return value or None


class StorageAccount:
    """The table and queue clients of one connection, with the policy's timeouts and retries, the CA bundle's
    trust and, in the identity form, a token credential that this object creates on first use and closes."""

    def __init__(self, connection: StorageConnection, policy: StoragePolicy = StoragePolicy(), *,
                 ca_bundle: str | None = None, app_credential: Callable[[], Any] | None = None):
        self.connection, self.policy, self._ca_bundle = connection, policy, ca_bundle
        self._app_credential = app_credential
        self._credential: Any = None

    @classmethod
    def for_settings(cls, settings: Settings, connection: StorageConnection | None = None) -> StorageAccount:
        from shared.adapters.azure import make_credential

        return cls(connection or settings.storage, settings.storage_policy, ca_bundle=settings.ca_bundle,
                   app_credential=lambda: make_credential(settings))

    def _token_credential(self) -> Any:
        if self._credential is None:
            connection = self.connection
            if (connection.credential or "").lower() == "managedidentity":
                from azure.identity.aio import ManagedIdentityCredential

                self._credential = ManagedIdentityCredential(client_id=connection.client_id)
            elif connection.client_id:  # what the host does with a clientId and no credential type
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential(managed_identity_client_id=connection.client_id)
            elif self._app_credential is not None:
                self._credential = self._app_credential()
            else:
                raise ConfigurationError(f"{connection.prefix}: the identity-based form needs a credential")
        return self._credential

    def _trust(self, service: Service) -> dict[str, Any]:
        """The CA bundle, for an https endpoint only: azure-core builds a new SSL context from a bundle path on
        every request (about a millisecond each), which is waste on Azurite's plain http."""
        if not self._ca_bundle or not self._uses_https(service):
            return {}
        return {"connection_verify": self._ca_bundle}

    def _uses_https(self, service: Service) -> bool:
        text = self.connection.connection_string
        if not text:
            return True  # the identity form is https only
        parts = {key.strip().lower(): value.strip() for key, _, value in
                 (part.partition("=") for part in text.split(";") if part.strip())}
        endpoint = parts.get(f"{service}endpoint")
        if endpoint:
            return endpoint.lower().startswith("https://")
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            return False
        return parts.get("defaultendpointsprotocol", "https").lower() == "https"

    def table_service(self):
        """An azure.data.tables.aio.TableServiceClient (its table clients share its pipeline and policy)."""
        from azure.data.tables.aio import TableServiceClient

        options = {**self.policy.table_options(), **self._trust("table")}
        if self.connection.connection_string:
            return TableServiceClient.from_connection_string(self.connection.connection_string, **options)
        return TableServiceClient(self.connection.endpoint("table"), credential=self._token_credential(), **options)

    def queue(self, name: str, **kwargs: Any):
        """An azure.storage.queue.aio.QueueClient for queue `name` (kwargs: message encode/decode policies)."""
        from azure.storage.queue.aio import QueueClient

        options = {**self.policy.queue_options(), **self._trust("queue"), **kwargs}
        if self.connection.connection_string:
            return QueueClient.from_connection_string(self.connection.connection_string, name, **options)
        return QueueClient(self.connection.endpoint("queue"), name, credential=self._token_credential(), **options)

    async def aclose(self) -> None:
        if self._credential is not None:
            await self._credential.close()
            self._credential = None


# 4xx that are about the moment, not the request: a timeout, throttling
_TRANSIENT_4XX = (408, 429)


def store_failure(what: str, service: Service, error: Exception) -> StoreError:
    """An SDK error of a table or queue call as the store's error: StoreRejected when storage refused the request
    itself (4xx), StoreError when it failed or could not be reached. Says what was done, never with what data."""
    status = getattr(error, "status_code", None)
    if status is None:
        return StoreError(f"{what}: {service} storage unreachable ({type(error).__name__})")
    response = getattr(error, "response", None)
    code = getattr(error, "error_code", None) or (response.headers.get("x-ms-error-code") if response else None)
    code = str(getattr(code, "value", code)) if code else None
    if 400 <= status < 500 and status not in _TRANSIENT_4XX:
        said = _first_line(error)
        said = f": {said[:300]}" if said else ""
        hint = (f" (check the app's storage credentials: the account key in the connection string, or the "
                f"Storage {service.capitalize()} Data Contributor role of its identity)" if status in (401, 403) else "")
        return StoreRejected(f"{what}: {service} storage refused the request: {status} {code or 'error'}{said}"
                             f"{hint}", code=code, status=status)
    return StoreError(f"{what}: {service} storage answered {status} {code or getattr(error, 'reason', '')}".rstrip())


def _first_line(error: Any) -> str:
    """Storage's own explanation (its message, first line), from the SDK's message or the OData error body."""
    first = (str(getattr(error, "message", "") or "").strip().splitlines() or [""])[0]
    if first and not first.startswith("Operation returned"):
        return first
    try:
        body = json.loads(error.response.text())
        return str(body["odata.error"]["message"]["value"]).strip().splitlines()[0]
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return ""
