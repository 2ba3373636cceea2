"""App Service adapter over azure-mgmt-web (aio): sites, slots, their releases, swap and restart."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable

from shared.azure import translated
from shared.errors import ConfigurationError

_SITE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/sites/(?P<name>[^/]+)"
    r"(?:/slots/(?P<slot>[^/]+))?/?$",
    re.IGNORECASE,
)
PRODUCTION = "production"


@dataclass(frozen=True)
class SiteRef:
    subscription: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> SiteRef:
        match = _SITE_ID.match(resource_id.strip())
        if not match:
            raise ConfigurationError(
                f"{resource_id!r} is not an App Service resource id "
                "(/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>)"
            )
        return cls(match["sub"], match["rg"], match["name"])


@dataclass(frozen=True)
class SlotInfo:
    """What the responder needs to know about one slot (production included)."""

    slot: str
    state: str | None
    host: str | None
    release: str | None
    last_swap_at: datetime | None
    last_swap_from: str | None


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    finished_at: datetime | None
    active: bool | None


class AppService:
    def __init__(self, client):
        self._client = client  # azure.mgmt.web.aio.WebSiteManagementClient

    async def slot_info(self, site: SiteRef, slot: str = PRODUCTION) -> SlotInfo:
        apps = self._client.web_apps
        with translated(f"read {site.name}/{slot}"):
            if slot == PRODUCTION:
                reads = apps.get(site.resource_group, site.name), apps.get_configuration(site.resource_group, site.name)
            else:
                reads = (apps.get_slot(site.resource_group, site.name, slot),
                         apps.get_configuration_slot(site.resource_group, site.name, slot))
            resource, config = await asyncio.gather(*reads)
        swap = resource.slot_swap_status
        return SlotInfo(
            slot=slot,
            state=resource.state,
            host=resource.default_host_name,
            release=config.linux_fx_version or config.windows_fx_version or None,
            last_swap_at=swap.timestamp_utc if swap else None,
            last_swap_from=swap.source_slot_name if swap else None,
        )

    async def latest_deployment(self, site: SiteRef, slot: str = PRODUCTION) -> DeploymentInfo | None:
        apps = self._client.web_apps
        with translated(f"list deployments of {site.name}/{slot}"):
            pager = (apps.list_deployments(site.resource_group, site.name) if slot == PRODUCTION
                     else apps.list_deployments_slot(site.resource_group, site.name, slot))
            deployments = [item async for item in pager]
        finished = [d for d in deployments if (d.end_time or d.start_time)]
        if not finished:
            return None
        latest = max(finished, key=lambda d: d.end_time or d.start_time)
        return DeploymentInfo(latest.name or "", latest.end_time or latest.start_time, latest.active)

    async def swap_into_production(self, site: SiteRef, slot: str,
                                   heartbeat: Callable[[], Awaitable[None]] | None = None,
                                   beat_every: float = 15.0) -> None:
        """`az webapp deployment slot swap --slot <slot> --target-slot production`; waits for the operation,
        calling `heartbeat` meanwhile (a swap can take minutes; the caller's lease must outlive it)."""
        from azure.mgmt.web.models import CsmSlotEntity

        with translated(f"swap {site.name}/{slot} into production"):
            poller = await self._client.web_apps.begin_swap_slot(
                site.resource_group, site.name, slot, CsmSlotEntity(target_slot=PRODUCTION, preserve_vnet=True)
            )
            outcome = asyncio.ensure_future(poller.result())
            while not (await asyncio.wait({outcome}, timeout=beat_every))[0]:
                if heartbeat is not None:
                    await heartbeat()
            outcome.result()

    async def restart(self, site: SiteRef, slot: str = PRODUCTION, soft: bool = False) -> None:
        apps = self._client.web_apps
        with translated(f"restart {site.name}/{slot}"):
            if slot == PRODUCTION:
                await apps.restart(site.resource_group, site.name, soft_restart=soft, synchronous=True)
            else:
                await apps.restart_slot(site.resource_group, site.name, slot, soft_restart=soft, synchronous=True)
