"""App settings, read from the environment (Function App application settings; local.settings.json locally).

Every setting is listed, with its meaning, in local.settings.example.json. Endpoints are settings, so the same
code reaches Azure, a sovereign cloud or the local emulator.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Literal, Mapping
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.durations import parse_duration
from shared.errors import ConfigurationError

_ENV = {
    "storage_connection": "AzureWebJobsStorage",
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
    "jwt_issuer": "RESPONDER_JWT_ISSUER",
    "jwt_audience": "RESPONDER_JWT_AUDIENCE",
    "jwks_url": "RESPONDER_JWKS_URL",
    "platform_auth_enabled": "WEBSITE_AUTH_ENABLED",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    storage_connection: str = Field(min_length=1)
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
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None
    platform_auth_enabled: bool = False  # set by App Service itself when its authentication is on

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

    @field_validator("queue_name")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("queue names may not contain two hyphens in a row")
        return value

    @field_validator("arm_endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if urlparse(value).scheme != "https":
            raise ValueError("must be an https:// URL (Azure refuses bearer tokens over plain http)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _bearer_settings_together(self) -> Settings:
        given = [self.jwt_issuer, self.jwt_audience, self.jwks_url]
        if any(given) and not all(given):
            raise ValueError("RESPONDER_JWT_ISSUER, RESPONDER_JWT_AUDIENCE and RESPONDER_JWKS_URL go together: "
                             "set all three to accept bearer tokens, or none")
        return self

    @model_validator(mode="after")
    def _emulator_only_on_loopback(self) -> Settings:
        if self.credential == "emulator" and urlparse(self.arm_endpoint).hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("RESPONDER_CREDENTIAL=emulator is only allowed with a loopback RESPONDER_ARM_ENDPOINT")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {field: env[name] for field, name in _ENV.items() if env.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = [
                f"{_ENV.get(str(item['loc'][0]), item['loc'][0]) if item['loc'] else 'settings'}: "
                f"{'required' if item['type'] == 'missing' else item['msg']}"
                for item in error.errors()
            ]
            raise ConfigurationError("invalid app settings: " + "; ".join(problems)) from None
