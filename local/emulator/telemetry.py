"""What Application Insights has recorded for each emulated App Service: its requests (succeeded or failed) and
exceptions, minute by minute, following what its production slot runs: many failures while a broken release
serves production, few once a healthy one does. Records become visible only `ingestion_lag` seconds after the
minute they describe, as Application Insights' do, and adaptive sampling stores some of them as one record
standing for several (`ItemCount` > 1), so `count()` undercounts where `sum(ItemCount)` does not.

Time is the emulator's clock (`emu.clock`: the wall clock, or a `ManualClock` a test moves), so that a
15-minute watch runs in seconds. The figures are deterministic: the same minute of the same component
always holds the same records, however often and in whatever window it is asked.
"""

from __future__ import annotations

import random
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Literal

from local.emulator.clock import Clock, SystemClock
from local.emulator.logs_kql import Row
from local.emulator.web import AppService, Site


@dataclass
class TelemetryScenario:
    """How the emulated applications behave, for every component (a component can override its failure rate)."""

    requests_per_minute: int = 120
    healthy_failure_rate: float = 0.005  # share of requests that fail while a healthy release serves production
    broken_failure_rate: float = 0.4  # ... while a broken one does
    exceptions_per_failure: float = 1.0  # each failed request throws about once
    healthy_exception_rate: float = 0.002  # exceptions per request that are not failures (handled, retried)
    sampled_share: float = 0.5  # share of the items that adaptive sampling stores as one record per group
    sampling_factor: int = 4  # items per sampled record (ItemCount), 25 % sampling
    ingestion_lag: float = 120.0  # seconds after the end of its minute before a record can be queried
    history_minutes: int = 60  # telemetry recorded before the component was added


@dataclass
class Workspace:
    """A Log Analytics workspace: queried by its workspace (customer) id, a GUID, or by its ARM resource id."""

    name: str
    subscription: str
    resource_group: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def resource_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.OperationalInsights/workspaces/{self.name}")


@dataclass
class Component:
    """A workspace-based Application Insights component receiving the telemetry of one App Service."""

    name: str
    site: Site
    workspace: Workspace
    created: float
    app_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    releases: list[tuple[float, str]] = field(default_factory=list)  # (since, release serving production)
    failure_rates: list[tuple[float, float | None]] = field(default_factory=list)  # (since, override or None)

    @property
    def resource_id(self) -> str:
        return (f"/subscriptions/{self.site.subscription}/resourceGroups/{self.site.resource_group}"
                f"/providers/Microsoft.Insights/components/{self.name}")

    @property
    def stored_id(self) -> str:
        """`_ResourceId` as Log Analytics stores it: lower case."""
        return self.resource_id.lower()

    def release_at(self, moment: float) -> str:
        current = self.releases[0][1]
        for since, release in self.releases:
            if since > moment:
                break
            current = release
        return current

    def override_at(self, moment: float) -> float | None:
        current = None
        for since, rate in self.failure_rates:
            if since > moment:
                break
            current = rate
        return current


class Telemetry:
    """The records of every component, generated on demand from the scenario and the release history."""

    def __init__(self, web: AppService, clock: Clock | None = None):
        self.web = web
        self.clock: Clock = clock or SystemClock()
        self.scenario = TelemetryScenario()
        self.workspaces: dict[str, Workspace] = {}
        self.components: dict[str, Component] = {}
        self._lock = threading.RLock()
        self._cache: dict[tuple, list[Row]] = {}
        web.listeners.append(self.observe)

    # ----- scenario set-up -------------------------------------------------------------------------
    def add_workspace(self, name: str, subscription: str, resource_group: str) -> Workspace:
        workspace = Workspace(name, subscription, resource_group)
        with self._lock:
            self.workspaces[workspace.id] = workspace
        return workspace

    def add_component(self, site: Site, workspace: Workspace, name: str | None = None) -> Component:
        now = self.clock.now()
        component = Component(name or f"{site.name}-insights", site, workspace, now)
        component.releases.append((now, site.slots["production"].release))
        with self._lock:
            self.components[component.stored_id] = component
        return component

    def set_failure_rate(self, component: Component, rate: float | None) -> None:
        """From now on `component` fails this share of its requests whatever it runs (None: as its release
        decides again); the minutes already recorded keep their figures."""
        with self._lock:
            component.failure_rates.append((self.clock.now(), rate))
            self._cache.clear()

    def observe(self, site: Site) -> None:
        """Called by App Service when what a slot runs changes (a swap ends, a config update): from now on the
        component's requests come from the release production runs now."""
        with self._lock:
            release = site.slots["production"].release
            for component in self.components.values():
                if component.site is site and component.releases[-1][1] != release:
                    component.releases.append((self.clock.now(), release))
                    self._cache.clear()

    def observe_all(self) -> None:
        """Catch up with slot changes made without App Service's notice (a test setting a slot's release)."""
        with self._lock:
            sites = {id(component.site): component.site for component in self.components.values()}
        for site in sites.values():
            self.observe(site)

    # ----- the records -----------------------------------------------------------------------------
    def visible_until(self, now: float) -> float:
        """Records of minutes ending at or before this instant are queryable at `now`."""
        return now - self.scenario.ingestion_lag

    def rows(self, component: Component, kind: Literal["requests", "exceptions"], since: float, until: float,
             now: float) -> Iterator[Row]:
        """The records of `kind` between `since` and `until` that have been ingested by `now`."""
        first = int(max(since, component.created - self.scenario.history_minutes * 60) // 60)
        last_ingested = int(self.visible_until(now) // 60) - 1  # the last minute that has ended, lag included
        last = min(last_ingested, int(min(until, now) // 60))
        for minute in range(first, last + 1):
            yield from self._minute(component, kind, minute)

    def _failure_rate(self, component: Component, moment: float) -> float:
        override = component.override_at(moment)
        if override is not None:
            return override
        broken = component.release_at(moment) in self.web.scenario.broken_releases
        return self.scenario.broken_failure_rate if broken else self.scenario.healthy_failure_rate

    def _minute(self, component: Component, kind: str, minute: int) -> list[Row]:
        scenario = self.scenario
        start = minute * 60.0
        key = (component.stored_id, kind, minute, component.release_at(start), component.release_at(start + 59.999),
               component.override_at(start), frozenset(self.web.scenario.broken_releases))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(zlib.crc32(f"{component.stored_id}|{minute}".encode()))
        count = max(1, round(scenario.requests_per_minute * (0.9 + 0.2 * rng.random())))
        requests, exceptions = [], []
        for index in range(count):
            moment = start + (index + rng.random()) * 60.0 / count
            failed = rng.random() < self._failure_rate(component, moment)
            requests.append((moment, not failed))
            throws = scenario.exceptions_per_failure if failed else scenario.healthy_exception_rate
            while throws > 0:
                if rng.random() < min(throws, 1.0):
                    exceptions.append((moment, None))
                throws -= 1.0
        items = requests if kind == "requests" else exceptions
        rows = self._sampled(component, items, rng)
        with self._lock:
            self._cache[key] = rows
        return rows

    def _sampled(self, component: Component, items: list[tuple[float, bool | None]],
                 rng: random.Random) -> list[Row]:
        """Items of the same outcome, in groups of `sampling_factor`: a sampled group is one record standing for
        all of them, an unsampled one a record each. Totals are exact: sum(ItemCount) = items."""
        factor, rows = max(1, self.scenario.sampling_factor), []
        for outcome in (True, False, None):
            same = [moment for moment, result in items if result is outcome]
            for begin in range(0, len(same), factor):
                group = same[begin:begin + factor]
                if len(group) == factor and factor > 1 and rng.random() < self.scenario.sampled_share:
                    rows.append(Row(group[0], outcome, factor, component.stored_id))
                else:
                    rows.extend(Row(moment, outcome, 1, component.stored_id) for moment in group)
        rows.sort(key=lambda row: row.time)
        return rows

    def figures(self, component: Component, since: float, until: float, now: float | None = None) -> dict[str, int]:
        """What the records say for `since`..`until` as seen at `now` (default: the clock): requests, failed
        requests and exceptions by sum(ItemCount), and the number of request records (what count() gives). For
        tests to compare against, instead of hard-coding figures."""
        now = self.clock.now() if now is None else now
        requests = [row for row in self.rows(component, "requests", since, until, now) if since <= row.time <= until]
        exceptions = [row for row in self.rows(component, "exceptions", since, until, now)
                      if since <= row.time <= until]
        return {"requests": sum(row.item_count for row in requests),
                "failed": sum(row.item_count for row in requests if not row.success),
                "exceptions": sum(row.item_count for row in exceptions),
                "request_records": len(requests)}
