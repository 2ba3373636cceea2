"""App Service adapter over azure-mgmt-web (aio): sites, slots, what they run, swap and restart."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime

from shared.adapters.azure import translated
from shared.errors import ConfigurationError
from shared.adapters.lro import Operation, Status, read_status
from shared.decide.releases import Release

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
        """An App Service resource id; a slot's id is refused (never silently cut to its app): steps name the
        app and take the slot as a parameter."""
        match = _SITE_ID.match(resource_id.strip())
        if not match:
            raise ConfigurationError(
                f"{resource_id!r} is not an App Service resource id "
                "(/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>)"
            )
        if match["slot"]:
            raise ConfigurationError(f"{resource_id!r} names slot {match['slot']!r} of app {match['name']!r}: "
                                     "target the app and give the slot as the step's `slot` parameter")
        return cls(match["sub"], match["rg"], match["name"])


@dataclass(frozen=True)
class SlotInfo:
    """What the responder needs to know about one slot (production included)."""

    slot: str
    state: str | None
    host: str | None
    fx_version: str | None  # linuxFxVersion / windowsFxVersion: `DOCKER|img:tag`, `PYTHON|3.11`, `SITECONTAINERS`
    main_image: str | None  # the image of the main site container of a sidecar app
    deployment: DeploymentInfo | None  # the slot's latest deployment
    last_swap_at: datetime | None
    last_swap_from: str | None

    def release(self, health_version: str | None = None) -> Release:
        """Everything this slot tells about the release it runs, with what its /health reported."""
        image = self.main_image
        if image is None and self.fx_version and self.fx_version.upper().startswith("DOCKER|"):
            image = self.fx_version.split("|", 1)[1]
        return Release(version=health_version, image=image,
                       deployment=self.deployment.id if self.deployment else None)


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    finished_at: datetime | None
    active: bool | None


class AppService:
    def __init__(self, client):
        self._client = client  # azure.mgmt.web.aio.WebSiteManagementClient

    async def slot_info(self, site: SiteRef, slot: str = PRODUCTION) -> SlotInfo:
        apps, rg = self._client.web_apps, site.resource_group
        with translated(f"read {site.name}/{slot}"):
            if slot == PRODUCTION:
                reads = apps.get(rg, site.name), apps.get_configuration(rg, site.name)
            else:
                reads = apps.get_slot(rg, site.name, slot), apps.get_configuration_slot(rg, site.name, slot)
            resource, config, deployment = await asyncio.gather(*reads, self.latest_deployment(site, slot))
        fx_version = config.linux_fx_version or config.windows_fx_version or None
        main_image = None
        if fx_version and fx_version.upper() == "SITECONTAINERS":
            main_image = await self._main_container_image(site, slot)
        swap = resource.slot_swap_status
        return SlotInfo(
            slot=slot, state=resource.state, host=resource.default_host_name, fx_version=fx_version,
            main_image=main_image, deployment=deployment,
            last_swap_at=swap.timestamp_utc if swap else None,
            last_swap_from=swap.source_slot_name if swap else None,
        )

    async def _main_container_image(self, site: SiteRef, slot: str) -> str | None:
        """A sidecar app's release is its main site container's image (linuxFxVersion only says SITECONTAINERS)."""
        apps, rg = self._client.web_apps, site.resource_group
        with translated(f"list the site containers of {site.name}/{slot}"):
            pager = (apps.list_site_containers(rg, site.name) if slot == PRODUCTION
                     else apps.list_site_containers_slot(rg, site.name, slot))
            containers = [item async for item in pager]
        main = [c for c in containers if c.properties is not None and c.properties.is_main]
        return main[0].properties.image if main else None

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

    async def start_swap_into_production(self, site: SiteRef, slot: str) -> Operation:
        """`az webapp deployment slot swap --slot <slot> --target-slot production`: ask, and return the handle of
        the operation Azure accepted (follow it with `operation_status`). A 409 (another operation runs on the
        site) raises AzureConflict: nothing was accepted."""
        from azure.mgmt.web.models import CsmSlotEntity

        with translated(f"swap {site.name}/{slot} into production"):
            poller = await self._client.web_apps.begin_swap_slot(
                site.resource_group, site.name, slot, CsmSlotEntity(target_slot=PRODUCTION, preserve_vnet=True),
                polling=False, cls=lambda pipeline_response, *_: pipeline_response.http_response,
            )
            response = await poller.result()
        if response.status_code == 200:  # done at once
            return Operation("none", None)
        return Operation.from_response(response)

    async def operation_status(self, operation: Operation, what: str) -> Status:
        return await read_status(self._client, operation, what)

    async def restart(self, site: SiteRef, slot: str = PRODUCTION, soft: bool = False) -> None:
        """Ask for a restart and return (synchronous=false): the caller's verification waits for the app."""
        apps = self._client.web_apps
        with translated(f"restart {site.name}/{slot}"):
            if slot == PRODUCTION:
                await apps.restart(site.resource_group, site.name, soft_restart=soft, synchronous=False)
            else:
                await apps.restart_slot(site.resource_group, site.name, slot, soft_restart=soft, synchronous=False)
