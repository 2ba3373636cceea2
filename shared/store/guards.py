"""Cooldowns and leases, kept in Table Storage and written with conditions, never in process memory:
function instances scale out and are recycled, so only the table can say who holds what.

  guards   PK "cooldown", RK sha(kind|target)   until, incident_id   (one action per target per window)
           PK "lease",    RK sha(target)        holder, incident_id, expires   (one run acts on a target at a time)
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from shared.errors import LeaseHeld
from shared.store import tables


def _row(key: str) -> str:
    return hashlib.sha256(key.lower().encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Cooldown:
    """A cooldown as the store holds it: `key` is plan.cooldown_key(kind, target)."""

    key: str
    until: datetime
    incident_id: str


@dataclass(frozen=True)
class Lease:
    target: str
    holder: str
    incident_id: str
    expires: datetime
    etag: str


class Guards:
    def __init__(self, tables_: tables.Tables, clock: Callable[[], datetime]):
        self._tables = tables_
        self._clock = clock

    async def _table(self):
        return await self._tables.table("guards")

    async def claim_cooldown(self, key: str, duration: timedelta, incident_id: str) -> Cooldown:
        """Start the cooldown for `incident_id`; if another incident holds an unexpired one, return that instead
        (the caller compares `incident_id`). Claiming again for the same incident returns its own cooldown."""
        table, row = await self._table(), _row(key)
        for _ in range(10):
            now = self._clock()
            mine = {"PartitionKey": "cooldown", "RowKey": row, "key": key, "until": now + duration,
                    "incident_id": incident_id}
            try:
                await tables.insert(table, mine)  # the common case: no cooldown on this target yet
                return Cooldown(key, mine["until"], incident_id)
            except tables.EntityExists:
                pass
            existing = await tables.get_or_none(table, "cooldown", row)
            if existing is None:
                continue
            if existing["incident_id"] == incident_id or existing["until"] > now:
                return Cooldown(key, existing["until"], existing["incident_id"])
            try:
                await tables.replace_if_unchanged(table, mine, existing["_etag"])
            except (tables.EntityChanged, tables.EntityMissing):
                continue
            return Cooldown(key, mine["until"], incident_id)
        raise tables.StoreError(f"cooldown {key} kept changing under 10 attempts to claim it")

    async def cooldown(self, key: str) -> Cooldown | None:
        """The cooldown on `key` as stored now (expired or not), or None."""
        existing = await tables.get_or_none(await self._table(), "cooldown", _row(key))
        return None if existing is None else Cooldown(key, existing["until"], existing["incident_id"])

    async def release_cooldown(self, key: str, incident_id: str) -> None:
        """Give a cooldown back (nothing ran after all); only if `incident_id` still holds it."""
        table = await self._table()
        existing = await tables.get_or_none(table, "cooldown", _row(key))
        if existing is not None and existing["incident_id"] == incident_id:
            await tables.delete_if_unchanged(table, "cooldown", _row(key), existing["_etag"])

    async def acquire_lease(self, target: str, holder: str, incident_id: str, duration: timedelta,
                            parked: bool = False) -> Lease:
        """Take the target for this run, or raise LeaseHeld. A lease belongs to an incident: while one of its
        steps waits between invocations the lease stays, *parked*, so no other incident acts on the target
        meanwhile, and the run that brings the step back takes it over. A live lease of another run (of this
        incident or another) is refused; an expired one is taken over."""
        table, row = await self._table(), _row(target)
        for _ in range(10):
            now = self._clock()
            entity = {"PartitionKey": "lease", "RowKey": row, "target": target, "holder": holder,
                      "incident_id": incident_id, "expires": now + duration, "parked": parked}
            existing = await tables.get_or_none(table, "lease", row)
            try:
                if existing is None:
                    etag = await tables.insert(table, entity)
                elif (existing["holder"] == holder or existing["expires"] <= now
                      or (existing["incident_id"] == incident_id and existing.get("parked"))):
                    etag = await tables.replace_if_unchanged(table, entity, existing["_etag"])
                else:
                    raise LeaseHeld(target, existing["incident_id"], existing["expires"])
            except (tables.EntityExists, tables.EntityChanged, tables.EntityMissing):
                continue
            return Lease(target, holder, incident_id, entity["expires"], etag)
        raise tables.StoreError(f"lease on {target} kept changing under 10 attempts to take it")

    async def renew_lease(self, lease: Lease, duration: timedelta, parked: bool = False) -> Lease:
        """Extend a lease this run holds (`parked`: while its step waits for a delayed message); raises
        LeaseHeld if it was lost (expired and taken by another run)."""
        return await self.acquire_lease(lease.target, lease.holder, lease.incident_id, duration, parked)

    async def release_lease(self, lease: Lease) -> None:
        """Give the target back, if this incident still holds it."""
        table, row = await self._table(), _row(lease.target)
        existing = await tables.get_or_none(table, "lease", row)
        if existing is not None and existing["incident_id"] == lease.incident_id:
            with contextlib.suppress(tables.EntityChanged):
                await tables.delete_if_unchanged(table, "lease", row, existing["_etag"])
