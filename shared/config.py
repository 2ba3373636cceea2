"""App settings, read from the environment (Function App application settings; local.settings.json locally).

Every setting is listed, with its meaning, in local.settings.example.json. Endpoints are settings, so the same
code reaches Azure, a sovereign cloud or the local emulator.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.decide.durations import parse_duration
from shared.adapters.entra import AZNS_AAD_WEBHOOK_APP_ID, DEFAULT_LOGIN_ENDPOINT, KNOWN_LOGIN_HOSTS, Tenant, canonical_guid
from shared.errors import ConfigurationError
from shared.store.storage import WEBHOOK_BUDGET, StorageConnection, StoragePolicy, setting

APP_ROOT = Path(__file__).resolve().parent.parent

_ENV = {
    "storage_connection": "AzureWebJobsStorage",
    "storage_account_name": "AzureWebJobsStorage__accountName",
    "storage_table_service_uri": "AzureWebJobsStorage__tableServiceUri",
    "storage_queue_service_uri": "AzureWebJobsStorage__queueServiceUri",
    "storage_credential": "AzureWebJobsStorage__credential",
    "storage_client_id": "AzureWebJobsStorage__clientId",
    "storage_retry_total": "RESPONDER_STORAGE_RETRY_TOTAL",
    "storage_retry_backoff": "RESPONDER_STORAGE_RETRY_BACKOFF",
    "storage_connect_timeout": "RESPONDER_STORAGE_CONNECT_TIMEOUT",
    "storage_read_timeout": "RESPONDER_STORAGE_READ_TIMEOUT",
    "rules_path": "RESPONDER_RULES_PATH",
    "table_prefix": "RESPONDER_TABLE_PREFIX",
    "queue_name": "RESPONDER_QUEUE",
    "arm_endpoint": "RESPONDER_ARM_ENDPOINT",
    "arm_scope": "RESPONDER_ARM_SCOPE",
    "credential": "RESPONDER_CREDENTIAL",
    "managed_identity_client_id": "AZURE_CLIENT_ID",
    "ca_bundle": "RESPONDER_CA_BUNDLE",
    "arm_polling_interval": "RESPONDER_ARM_POLLING_INTERVAL",
    "arm_retry_total": "RESPONDER_ARM_RETRY_TOTAL",
    "arm_retry_backoff": "RESPONDER_ARM_RETRY_BACKOFF",
    "arm_timeout": "RESPONDER_ARM_TIMEOUT",
    "lease_duration": "RESPONDER_LEASE_DURATION",
    "invocation_budget": "RESPONDER_INVOCATION_BUDGET",
    "intake_deadline": "RESPONDER_INTAKE_DEADLINE",
    "target_wait": "RESPONDER_TARGET_WAIT",
    "stuck_after": "RESPONDER_STUCK_AFTER",
    "retention": "RESPONDER_RETENTION",
    "max_redrives": "RESPONDER_MAX_REDRIVES",
    "public_base_url": "RESPONDER_PUBLIC_BASE_URL",
    "key_vault_url": "RESPONDER_KEY_VAULT_URL",
    "redis_secret_name": "RESPONDER_REDIS_SECRET_NAME",
    "approval_ttl": "RESPONDER_APPROVAL_TTL",
    "trust_app_service_auth": "RESPONDER_TRUST_APP_SERVICE_AUTH",
    "entra_tenant_id": "RESPONDER_ENTRA_TENANT_ID",
    "entra_client_id": "RESPONDER_ENTRA_CLIENT_ID",
    "entra_app_id_uri": "RESPONDER_ENTRA_APP_ID_URI",
    "entra_login_endpoint": "RESPONDER_ENTRA_LOGIN_ENDPOINT",
    "entra_jwks_url": "RESPONDER_ENTRA_JWKS_URL",
    "alerts_require_token": "RESPONDER_ALERTS_REQUIRE_TOKEN",
    "alerts_token_app_ids": "RESPONDER_ALERTS_TOKEN_APP_IDS",
    "platform_auth_enabled": "WEBSITE_AUTH_ENABLED",
    "github_api_url": "RESPONDER_GITHUB_API_URL",
    "github_token_secret": "RESPONDER_GITHUB_TOKEN_SECRET",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # AzureWebJobsStorage as a connection string or in the host's identity-based form (shared/storage.py)
    storage_connection: str | None = None
    storage_account_name: str | None = None
    storage_table_service_uri: str | None = None
    storage_queue_service_uri: str | None = None
    storage_credential: str | None = None
    storage_client_id: str | None = None
    storage_retry_total: int = Field(default=StoragePolicy.retry_total, ge=0, le=10)
    storage_retry_backoff: float = Field(default=StoragePolicy.retry_backoff, ge=0)
    storage_connect_timeout: float = Field(default=StoragePolicy.connect_timeout, gt=0)
    storage_read_timeout: float = Field(default=StoragePolicy.read_timeout, gt=0)
    rules_path: str = "rules.yaml"
    table_prefix: str = Field(default="responder", pattern=r"^[A-Za-z][A-Za-z0-9]{0,29}$")
    # Required, no default: the queue triggers bind to it as %RESPONDER_QUEUE%, which the host resolves
    # from app settings only.
    queue_name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$")
    arm_endpoint: str = "https://management.azure.com"
    arm_scope: str = "https://management.azure.com/.default"
    credential: Literal["default", "managed-identity", "emulator"] = "default"
    managed_identity_client_id: str | None = None
    ca_bundle: str | None = None
    arm_polling_interval: float | None = Field(default=None, ge=0)
    arm_retry_total: int = Field(default=6, ge=0)
    arm_retry_backoff: float = Field(default=0.8, ge=0)
    arm_timeout: float = Field(default=60.0, gt=0)
    lease_duration: timedelta = timedelta(seconds=90)
    # How long one executor invocation may wait in place (probes a few seconds apart, a swap's status) before it
    # hands the wait to a delayed message instead: no invocation is held open for minutes.
    invocation_budget: timedelta = timedelta(seconds=20)
    target_wait: timedelta = timedelta(minutes=30)  # waiting for a target another incident acts on, at most
    intake_deadline: timedelta = timedelta(seconds=8)  # the webhook answers within Azure Monitor's 10 s
    stuck_after: timedelta = timedelta(minutes=1)  # overdue this long: re-driven (a crash costs about this + 1 min)
    retention: timedelta | None = timedelta(days=90)  # closed incidents older than this are removed; "off": kept
    max_redrives: int = Field(default=3, ge=0)
    public_base_url: str | None = None
    key_vault_url: str | None = None
    redis_secret_name: str = Field(default="redis-access-key", pattern=r"^[0-9a-zA-Z-]{1,127}$")
    approval_ttl: timedelta = timedelta(minutes=30)
    trust_app_service_auth: bool = False
    # Microsoft Entra ID tokens (shared/entra.py): the tenant, the app registration and the cloud's login host.
    entra_tenant_id: str | None = None
    entra_client_id: str | None = None
    entra_app_id_uri: str | None = None
    entra_login_endpoint: str = DEFAULT_LOGIN_ENDPOINT
    entra_jwks_url: str | None = None  # override of {login}/{tenant}/discovery/v2.0/keys (the test emulator)
    alerts_require_token: bool = False
    alerts_token_app_ids: frozenset[str] = frozenset({AZNS_AAD_WEBHOOK_APP_ID})
    platform_auth_enabled: bool = False  # set by App Service itself when its authentication is on
    # GitHub (migration and deploy workflows, the root-cause issue): the API root (GitHub Enterprise Server:
    # https://<host>/api/v3) and the Key Vault secret holding a fine-grained token (actions: write, issues: write)
    github_api_url: str = "https://api.github.com"
    github_token_secret: str = Field(default="github-token", pattern=r"^[0-9a-zA-Z-]{1,127}$")

    @field_validator("lease_duration", "invocation_budget", "target_wait", "intake_deadline", "stuck_after",
                     "approval_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("off", "none", "forever"):
            return None
        duration = parse_duration(value)
        if duration < timedelta(days=1):
            raise ValueError("keep closed incidents at least 1d (or write off)")
        return duration

    @field_validator("rules_path")
    @classmethod
    def _in_the_app_folder(cls, value: str) -> str:
        """Relative to the app's folder (where function_app.py is), not to whatever the working directory is."""
        path = Path(value)
        return str(path if path.is_absolute() else APP_ROOT / path)

    @field_validator("queue_name")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("queue names may not contain two hyphens in a row")
        return value

    @field_validator("arm_endpoint", "entra_login_endpoint", "entra_jwks_url", "github_api_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and urlparse(value).scheme != "https":
            raise ValueError("must be an https:// URL (Azure refuses bearer tokens over plain http)")
        return value.rstrip("/") if value is not None else None

    @field_validator("entra_login_endpoint")
    @classmethod
    def _known_cloud(cls, value: str) -> str:
        if urlparse(value).hostname not in KNOWN_LOGIN_HOSTS or urlparse(value).path not in ("", "/"):
            raise ValueError(f"must be the login endpoint of an Azure cloud, https://<host> with host one of "
                             f"{', '.join(KNOWN_LOGIN_HOSTS)} (the token issuers are derived from it)")
        return value

    @field_validator("entra_tenant_id", "entra_client_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        guid = canonical_guid(value)
        if guid is None:
            raise ValueError("must be a GUID (tokens carry the tenant and the app as GUIDs, not domain names)")
        return guid

    @field_validator("entra_app_id_uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None and (not urlparse(value).scheme or value != value.strip()):
            raise ValueError("must be the app registration's Application ID URI, e.g. api://rollback-responder")
        return value

    @field_validator("alerts_token_app_ids", mode="before")
    @classmethod
    def _app_ids(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        ids = [part.strip() for part in value.split(",") if part.strip()]
        wrong = [part for part in ids if canonical_guid(part) is None]
        if wrong or not ids:
            raise ValueError(f"must be a comma-separated list of app ids (GUIDs); not GUIDs: {', '.join(wrong)}")
        return frozenset(canonical_guid(part) for part in ids)

    @property
    def storage(self) -> StorageConnection:
        return StorageConnection(
            connection_string=self.storage_connection, account_name=self.storage_account_name,
            table_service_uri=self.storage_table_service_uri, queue_service_uri=self.storage_queue_service_uri,
            credential=self.storage_credential, client_id=self.storage_client_id)

    @property
    def storage_policy(self) -> StoragePolicy:
        return StoragePolicy(retry_total=self.storage_retry_total, retry_backoff=self.storage_retry_backoff,
                             connect_timeout=self.storage_connect_timeout, read_timeout=self.storage_read_timeout)

    @model_validator(mode="after")
    def _storage_reachable(self) -> Settings:
        problems = self.storage.problems()
        worst = self.storage_policy.worst_case()
        if worst > WEBHOOK_BUDGET:  # (RESPONDER_INTAKE_DEADLINE may cut the intake shorter still, on purpose)
            problems.append(f"RESPONDER_STORAGE_RETRY_TOTAL, _RETRY_BACKOFF, _CONNECT_TIMEOUT, _READ_TIMEOUT: one "
                            f"storage call could take {worst:.1f} s with these, over the {WEBHOOK_BUDGET:g} s an "
                            f"alert can wait for it (Azure Monitor gives the webhook 10 s)")
        if (not problems and self.credential == "emulator" and self.storage.identity_based
                and not self.storage_credential and not self.storage_client_id and not self.storage.loopback()):
            problems.append("RESPONDER_CREDENTIAL=emulator is only allowed with loopback storage endpoints")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _entra_settings_together(self) -> Settings:
        trio = {"RESPONDER_ENTRA_TENANT_ID": self.entra_tenant_id, "RESPONDER_ENTRA_CLIENT_ID": self.entra_client_id,
                "RESPONDER_ENTRA_APP_ID_URI": self.entra_app_id_uri}
        missing = [name for name, value in trio.items() if not value]
        if len(missing) == len(trio):
            # Settings that mean nothing without the trio are a mistake when they differ from their defaults.
            dependent = [name for name, given in (
                ("RESPONDER_ENTRA_JWKS_URL", self.entra_jwks_url is not None),
                ("RESPONDER_ENTRA_LOGIN_ENDPOINT", self.entra_login_endpoint != DEFAULT_LOGIN_ENDPOINT),
                ("RESPONDER_ALERTS_REQUIRE_TOKEN", self.alerts_require_token),
                ("RESPONDER_ALERTS_TOKEN_APP_IDS", self.alerts_token_app_ids != {AZNS_AAD_WEBHOOK_APP_ID})) if given]
            if not dependent:
                return self
            raise ValueError(f"{' and '.join(dependent)} need Microsoft Entra ID tokens configured: missing "
                             f"{', '.join(missing)}")
        if missing:
            raise ValueError(f"RESPONDER_ENTRA_TENANT_ID, RESPONDER_ENTRA_CLIENT_ID and RESPONDER_ENTRA_APP_ID_URI go "
                             f"together (set all three to accept Microsoft Entra ID tokens, or none): missing "
                             f"{', '.join(missing)}")
        return self

    @property
    def entra_tenant(self) -> Tenant | None:
        """The tenant and app registration tokens must be for; None when bearer tokens are not configured."""
        if not self.entra_tenant_id or not self.entra_client_id or not self.entra_app_id_uri:
            return None
        return Tenant(self.entra_tenant_id, self.entra_client_id, self.entra_app_id_uri, self.entra_login_endpoint,
                      self.entra_jwks_url)

    @model_validator(mode="after")
    def _emulator_only_on_loopback(self) -> Settings:
        if self.credential == "emulator" and urlparse(self.arm_endpoint).hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("RESPONDER_CREDENTIAL=emulator is only allowed with a loopback RESPONDER_ARM_ENDPOINT")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {field: value for field, name in _ENV.items()
                  if (value := env.get(name) if "__" not in name else setting(env, name)) not in (None, "")}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = [
                f"{_ENV.get(str(item['loc'][0]), item['loc'][0]) if item['loc'] else 'settings'}: "
                f"{'required' if item['type'] == 'missing' else item['msg']}"
                for item in error.errors()
            ]
            # a field error keeps the model validators from running: name what the storage settings lack too
            problems += [problem for problem in StorageConnection.from_env(env).problems()
                         if not any(problem in known for known in problems)]
            raise ConfigurationError("invalid app settings: " + "; ".join(problems)) from None
