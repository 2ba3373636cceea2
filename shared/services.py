"""The composition root: settings, rules, the store, the queue and the Azure clients, built once per event
loop (the Functions worker runs one loop per process; each test has its own), lazily, so a cold start
pays only for what the first invocation uses.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Mapping

from shared.config import Settings
from shared.decide.plan import StepKind
from shared.run.step import Responder, kinds_of


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Services:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 responders: Mapping[str, Responder] | None = None, subscribers: tuple | None = None):
        from announcers import SUBSCRIBERS
        from responders import REGISTRY
        from shared.store import tables
        from shared.store.guards import Guards
        from shared.store.incidents import IncidentStore
        from shared.store.queue import RunQueue
        from shared.store.storage import StorageAccount

        self.settings = settings
        self.clock = clock
        self.sleep = sleep  # every wait in place goes through here (tests pass a fake with their fake clock)
        self.responders = REGISTRY if responders is None else responders  # a test may bring its own
        self.kinds: Mapping[str, StepKind] = kinds_of(self.responders)
        self.subscribers = SUBSCRIBERS if subscribers is None else subscribers  # shared/run/moments.py
        self._storage = StorageAccount.for_settings(settings)
        self._tables = tables.Tables(self._storage, settings.table_prefix)
        self.store = IncidentStore(self._tables, clock)
        self.store.wants = lambda moment: any(s.wants(self, moment) for s in self.subscribers)
        self.store.on_moment = self._announce
        self.guards = Guards(self._tables, clock)
        self.queue = RunQueue(self._storage, settings.queue_name)
        self._rules = None
        self._credential = None
        self._http = None
        self._web: dict[str, Any] = {}
        self._vaults = None
        self._auth = None
        self._github = None
        from shared.adapters.azure import Trust

        self._trust = Trust(settings.ca_bundle)  # one TLS session for every SDK client that trusts the bundle

    async def _announce(self, incident_id: str) -> None:
        from shared.run import moments

        await moments.request(self, incident_id)

    @property
    def rules(self):
        """The rules file, validated on first use (and at start-up by function_app)."""
        if self._rules is None:
            from shared.decide.rules import load_rules_file

            self._rules = load_rules_file(self.settings.rules_path, self.kinds)
        return self._rules

    @property
    def credential(self):
        if self._credential is None:
            from shared.adapters.azure import make_credential

            self._credential = make_credential(self.settings)
        return self._credential

    @property
    def http(self):
        """One httpx client for health checks, trusting RESPONDER_CA_BUNDLE when set."""
        if self._http is None:
            import ssl

            import httpx

            trust = ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else True
            self._http = httpx.AsyncClient(verify=trust, follow_redirects=False,
                                           headers={"User-Agent": "rollback-responder/1"})
        return self._http

    @property
    def auth(self):
        """Who is calling: the command API's caller, the alert intake's Secure Webhook token."""
        if self._auth is None:
            from shared.adapters.identity import Authenticator

            self._auth = Authenticator(self.settings)
        return self._auth

    @property
    def vaults(self):
        """Key Vault secrets, through the app's credential."""
        if self._vaults is None:
            from shared.adapters.keyvault import Vaults

            self._vaults = Vaults(self.settings, self.credential, self._trust)
        return self._vaults

    @property
    def github(self):
        """The GitHub adapter over the shared httpx client; its token is read from Key Vault (and redacted),
        then kept for five minutes so a burst of calls is not a burst of secret reads."""
        if self._github is None:
            from shared.adapters.github import GitHub

            held: dict[str, Any] = {}

            async def token() -> str:
                now = self.clock()
                if not held or held["until"] <= now:
                    held["value"] = await self.vaults.secret(self.settings.key_vault_url,
                                                             self.settings.github_token_secret)
                    held["until"] = now + timedelta(minutes=5)
                return held["value"]

            self._github = GitHub(self.http, self.settings.github_api_url, token)
        return self._github

    def app_service(self, subscription_id: str):
        """The App Service adapter for one subscription (clients are cached per subscription)."""
        from shared.adapters.appservice import AppService

        client = self._web.get(subscription_id)
        if client is None:
            from azure.mgmt.web.aio import WebSiteManagementClient

            from shared.adapters.azure import client_options

            client = WebSiteManagementClient(self.credential, subscription_id,
                                             **client_options(self.settings, self._trust))
            self._web[subscription_id] = client
        return AppService(client)

    async def aclose(self) -> None:
        for client in self._web.values():
            await client.close()
        if self._vaults is not None:
            await self._vaults.aclose()
        if self._http is not None:
            await self._http.aclose()
        await self._trust.aclose()
        if self._credential is not None:
            await self._credential.close()
        await self.queue.aclose()
        await self._tables.aclose()
        await self._storage.aclose()


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Services] = weakref.WeakKeyDictionary()


def current() -> Services:
    """The Services of the running event loop, built from the environment on first use."""
    loop = asyncio.get_running_loop()
    services = _by_loop.get(loop)
    if services is None:
        services = Services(Settings.from_env())
        services.rules  # a broken rules file refuses every trigger (ConfigurationError), not just some
        _by_loop[loop] = services
    return services


def use(services: Services) -> None:
    """Make `services` the current ones for the running loop (tests, the local runner, the demo)."""
    _by_loop[asyncio.get_running_loop()] = services


def forget() -> None:
    """Drop the running loop's Services (they are rebuilt from the environment on next use)."""
    _by_loop.pop(asyncio.get_running_loop(), None)
