"""Key Vault adapter (azure-keyvault-secrets, aio): read a secret, registering its value for redaction the
moment it is read, so it cannot reach a log line, a record or an error message."""

from __future__ import annotations

from urllib.parse import urlparse

from shared.adapters.azure import translated
from shared.config import Settings
from shared.errors import ConfigurationError
from shared.redact import register_secret


class Vaults:
    """SecretClients per vault URL, sharing the app's credential."""

    def __init__(self, settings: Settings, credential, trust=None):
        from shared.adapters.azure import Trust

        self._settings, self._credential = settings, credential
        self._trust = trust or Trust(settings.ca_bundle)
        self._clients: dict[str, object] = {}

    def _client(self, vault_url: str):
        client = self._clients.get(vault_url)
        if client is None:
            from azure.keyvault.secrets.aio import SecretClient

            loopback = urlparse(vault_url).hostname in ("127.0.0.1", "localhost")
            options = self._trust.options()
            # Azure's challenge names the resource vault.azure.net; only a local emulator may skip that check.
            client = SecretClient(vault_url, self._credential, verify_challenge_resource=not loopback,
                                  retry_total=self._settings.arm_retry_total,
                                  retry_backoff_factor=self._settings.arm_retry_backoff, **options)
            self._clients[vault_url] = client
        return client

    async def secret(self, vault_url: str | None, name: str) -> str:
        if not vault_url:
            raise ConfigurationError(f"no Key Vault to read secret {name!r} from: set RESPONDER_KEY_VAULT_URL "
                                     "or the step's key_vault_url")
        with translated(f"read secret {name!r} from {vault_url}"):
            secret = await self._client(vault_url).get_secret(name)
        if not secret.value:
            raise ConfigurationError(f"secret {name!r} in {vault_url} is empty")
        register_secret(secret.value)
        return secret.value

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
