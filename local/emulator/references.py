"""App Service Key Vault references: app settings written `@Microsoft.KeyVault(SecretUri=...)` (or
`VaultName=...;SecretName=...[;SecretVersion=...]`), resolved against the emulator's Key Vault, cached, and
reported as `config/configreferences/appsettings` reports them (ApiKVReference).

As App Service does (docs, "Understand rotation"): a versionless reference resolves to the newest version and
the value is cached (24 h); a configuration change refetches every reference; a reference that does not
resolve leaves the setting's value the reference text itself. And a backend that wants to see its database
check: `database_check` connects for real to the database a `postgresql://` URL names."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from local.emulator.keyvault import KeyVault

_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\((?P<inner>.*)\)$", re.DOTALL)
_SECRET_PATH = re.compile(r"^/secrets/(?P<name>[0-9a-zA-Z-]+)(?:/(?P<version>[0-9a-zA-Z]*))?/?$")


def is_reference(value: str) -> bool:
    return value.startswith("@Microsoft.KeyVault(")


@dataclass
class Resolution:
    """Where a reference points and what it resolved to (`value`: what the app sees)."""

    reference: str
    status: str = "Initialized"
    value: str = ""
    vault_name: str | None = None
    secret_name: str | None = None
    secret_version: str | None = None  # the version the reference pins, if it pins one
    active_version: str | None = None  # the version it resolved to
    details: str = ""
    resolved_at: float = field(default_factory=time.time)


def _target(reference: str, vault: KeyVault) -> tuple[bool, str | None, str | None, str | None, str]:
    """(vault is ours, vault name, secret name, version, problem); `problem` is "" when the syntax is good."""
    match = _REFERENCE.match(reference)
    if not match:
        return False, None, None, None, "The reference is not of the form @Microsoft.KeyVault(...)."
    inner = match["inner"].strip()
    if inner.startswith("SecretUri="):
        uri = urlsplit(inner.removeprefix("SecretUri="))
        path = _SECRET_PATH.match(uri.path)
        if uri.scheme != "https" or not uri.netloc or not path:
            return False, None, None, None, "SecretUri must be https://<vault>/secrets/<name>/[<version>]."
        ours = uri.netloc.lower() == urlsplit(vault.base_url).netloc.lower()
        return ours, vault.name if ours else uri.netloc.split(".")[0], path["name"], path["version"] or None, ""
    parts = dict(part.split("=", 1) for part in inner.split(";") if "=" in part)
    if "VaultName" not in parts or "SecretName" not in parts:
        return False, None, None, None, "The reference needs SecretUri, or VaultName and SecretName."
    return (parts["VaultName"].lower() == vault.name.lower(), parts["VaultName"], parts["SecretName"],
            parts.get("SecretVersion") or None, "")


def resolve(reference: str, vault: KeyVault, now: float) -> Resolution:
    """Fetch what `reference` points to, as App Service would with a managed identity allowed to read it."""
    ours, vault_name, secret, version, problem = _target(reference, vault)
    resolution = Resolution(reference, vault_name=vault_name, secret_name=secret, secret_version=version,
                            value=reference, resolved_at=now)
    if problem:
        resolution.status, resolution.details = "InvalidSyntax", problem
        return resolution
    if not ours:
        resolution.status, resolution.details = "VaultNotFound", f"Key Vault '{vault_name}' was not found."
        return resolution
    with vault.lock:
        versions = vault.secrets.get(secret.lower() if secret else "")
        chosen = None
        if versions:
            chosen = versions[-1] if version is None else next((v for v in versions if v.id == version), None)
    if not versions:
        resolution.status, resolution.details = "SecretNotFound", f"Secret '{secret}' was not found in the vault."
    elif chosen is None:
        resolution.status, resolution.details = "SecretVersionNotFound", f"Version '{version}' of '{secret}' was not found."
    elif not chosen.enabled:
        # Key Vault answers 403 SecretDisabled; App Service has no status of its own for that.
        resolution.status, resolution.details = "OtherReasons", "SecretDisabled: the secret version is disabled."
    else:
        resolution.status, resolution.value, resolution.active_version = "Resolved", chosen.value, chosen.id
        resolution.details = "Reference has been successfully resolved."
    return resolution


def reference_body(config_id: str, key: str, resolution: Resolution) -> dict[str, Any]:
    """An ApiKVReference as `config/configreferences/appsettings[/{key}]` answers it."""
    return {"id": f"{config_id}/configreferences/appsettings/{key}", "name": key,
            "type": "Microsoft.Web/sites/config/configreferences",
            "properties": {"reference": resolution.reference, "status": resolution.status,
                           "vaultName": resolution.vault_name, "secretName": resolution.secret_name,
                           "secretVersion": resolution.secret_version,
                           "identityType": {"type": "SystemAssigned"}, "details": resolution.details,
                           "source": "KeyVault", "activeVersion": resolution.active_version}}


def database_check(url: str | None) -> tuple[bool, dict[str, Any]]:
    """Connect for real to the database `url` names and run `SELECT 1`: (ok, what the health answer says).
    The answer never contains the password, nor the URL when it does not parse."""
    if not url:
        return False, {"database": "error: no database URL is configured"}
    parts = urlsplit(url)
    password = unquote(parts.password or "")

    def scrubbed(text: str) -> str:
        for secret in {url, password, parts.password or ""} - {""}:
            text = text.replace(secret, "***")
        return text

    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        return False, {"database": "error: the database URL is not a postgresql:// URL"}
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as connection:
            server = connection.execute("SELECT 1, host(inet_server_addr())").fetchone()[1]
    except Exception as failed:  # any failure to connect or query is what the check reports
        return False, {"database": "error: " + scrubbed(str(failed)).strip().splitlines()[0]}
    return True, {"database": "ok", "database_host": parts.hostname, "database_server": server,
                  "database_name": parts.path.lstrip("/")}
