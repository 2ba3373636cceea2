"""Incident records in Azure Table Storage: the incident, its fingerprint, its timeline and its steps.

Layout (table names get the RESPONDER_TABLE_PREFIX):
  incidents   PK "incident", RK = inverted start time + suffix (so a plain query lists newest first)
              PK "incident", RK "fp-<fingerprint>"  -> which incident an event created (same partition, so
              the incident and its fingerprint are inserted in one transaction: both or neither)
  open        PK "open", RK = the incident's RK          an incident not yet final (or with moments still to
              announce), with what the periodic work
              needs to judge it (status, when it is due, the approval window): written before the incident and
              after each change of those, removed when it ends. The reconciler reads only this table and reads an
              incident only to act on it, so a pass costs as much as there is open work, however long the history
  timeline    PK = incident id, RK "t-<time>-<rand>"   append-only timeline entries
              PK = incident id, RK "s-<index>"         one progress record per plan step (ETag writes)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from pydantic import BaseModel

from shared.decide.moments import moment_of
from shared.decide.incident import Incident, OpenIncident, Recorded, StepProgress, TimelineEntry
from shared.decide.plan import Plan
from shared.decide.status import Status, is_final, transition
from shared.errors import IncidentNotFound, InvalidCursor, PayloadError
from shared.redact import scrub, scrub_head
from shared.store import tables

log = logging.getLogger("responder.incidents")

INCIDENT_PARTITION = "incident"
_MAX_MS = 10**13 - 1
_DETAIL_LIMIT = 8_000
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,1024}")  # unpadded base64url, as _encode_cursor writes it
_TOKEN_PART = re.compile(r"[!-~]{0,512}")  # printable ASCII, no space


def row_key_of(incident_id: str) -> str:
    """Inverted milliseconds, so that ascending row keys are newest first."""
    try:
        _, day, clock, suffix = incident_id.split("-")
        moment = datetime.strptime(day + clock[:6], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        millis = int(moment.timestamp()) * 1000 + int(clock[6:9])
    except (ValueError, IndexError):
        raise IncidentNotFound(f"{incident_id!r} is not an incident id (like inc-20261125-031502123-4f3a9c)") from None
    return f"{_MAX_MS - millis:013d}-{suffix}"


def _row_key_at(moment: datetime) -> str:
    return f"{_MAX_MS - int(moment.timestamp() * 1000):013d}"


_LISTS = ("approvals", "passed_gates", "moments", "announced")  # stored as JSON text (a property holds no list)


def incident_entity(incident: Incident) -> dict[str, Any]:
    """The incident as its Table entity. One python-mode dump: times stay datetimes (Edm.DateTime, so queries
    compare them as times); the plan, the event and the lists are JSON."""
    entity = incident.model_dump(mode="python", exclude={"plan", "event", "linked_fingerprints", *_LISTS})
    entity["status"] = str(incident.status)
    entity.update(
        PartitionKey=INCIDENT_PARTITION, RowKey=row_key_of(incident.id),
        plan=incident.plan.model_dump_json(), event=json.dumps(incident.event, separators=(",", ":")),
    )
    if incident.linked_fingerprints:
        entity["linked_fingerprints"] = ",".join(incident.linked_fingerprints)
    for name in _LISTS:
        values = getattr(incident, name)
        if values:
            entity[name] = json.dumps([v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in values],
                                      separators=(",", ":"))
    return {key: value for key, value in entity.items() if value is not None}


def incident_of(entity: dict[str, Any]) -> Incident:
    values = {key: value for key, value in entity.items() if not key.startswith(("_", "PartitionKey", "RowKey"))}
    values["plan"] = Plan.model_validate_json(values["plan"])
    values["event"] = json.loads(values.get("event") or "{}")
    values["linked_fingerprints"] = [f for f in (values.get("linked_fingerprints") or "").split(",") if f]
    for name in _LISTS:
        values[name] = json.loads(values.get(name) or "[]")
    return Incident.model_validate(values | {"etag": entity.get("_etag")})


def _open_entity(entry: OpenIncident) -> dict[str, Any]:
    entity = entry.model_dump(mode="python", exclude_none=True) | {"PartitionKey": "open",
                                                                    "RowKey": row_key_of(entry.incident_id)}
    entity["status"] = str(entry.status)
    return entity


def _fingerprint_row(fingerprint: str, incident: Incident | Recorded) -> dict[str, Any]:
    plan = incident.plan if isinstance(incident, Recorded) else incident.plan.summary()
    return {"PartitionKey": INCIDENT_PARTITION, "RowKey": f"fp-{fingerprint}", "incident_id": incident.id,
            "status": str(incident.status), "plan": plan[:1000]}


class Page(BaseModel):
    items: list[Incident]
    next_cursor: str | None = None


class IncidentStore:
    def __init__(self, tables_: tables.Tables, clock: Callable[[], datetime]):
        self._tables = tables_
        self._clock = clock
        # Lifecycle moments (shared/decide/moments.py): which ones something announces (no subscriber for a
        # moment: it is not recorded, and costs nothing), and what to call once one is recorded.
        self.wants: Callable[[str], bool] = lambda moment: False
        self.on_moment: Callable[[str], Awaitable[None]] | None = None

    def _record_moment(self, before: Status | None, incident: Incident) -> bool:
        moment = moment_of(before, incident.status, incident.gate)
        if moment is None or moment in incident.moments or not self.wants(moment):
            return False
        incident.moments.append(moment)
        return True

    async def _moment_recorded(self, incident_id: str) -> None:
        """Ask for the announcement now; if that fails, the reconciler asks again (the moment is on the record)."""
        if self.on_moment is None:
            return
        try:
            await self.on_moment(incident_id)
        except Exception as error:  # noqa: BLE001 - never fail the change that made the moment
            log.warning("could not queue the announcement of %s (the reconciler will): %s", incident_id, error)

    async def _incidents(self):
        return await self._tables.table("incidents")

    async def _timeline(self):
        return await self._tables.table("timeline")

    async def _open_index(self):
        return await self._tables.table("open")

    async def create(self, incident: Incident) -> Incident | Recorded:
        """Insert the incident and its fingerprint together: the incident as written, or, when the fingerprint is
        already taken (another delivery won), nothing is written and what that one recorded is returned."""
        table = await self._incidents()
        announce = self._record_moment(None, incident)
        rows = [incident_entity(incident), _fingerprint_row(incident.fingerprint, incident)]
        indexed = _indexed(incident)
        if indexed:  # first, so an open incident is never missing from the index (a stray row is mended)
            await tables.insert(await self._open_index(), _open_entity(OpenIncident.of(incident)))
        try:
            try:
                etags = await tables.insert_together(table, rows)
            except tables.StoreRejected as refused:  # too large after all: keep the facts, drop the payload
                log.error("storage refused incident %s (%s); recording it without its payload", incident.id,
                          refused.code)
                incident = _compacted(incident, refused)
                rows[0] = incident_entity(incident)
                etags = await tables.insert_together(table, rows)
        except tables.EntityExists:
            if indexed:
                await self._close(incident.id)
            existing = await self.recorded(incident.fingerprint)
            if existing is None:  # only the incident row can have collided: a new id will do
                raise
            return existing
        if announce:
            await self._moment_recorded(incident.id)
        return incident.model_copy(update={"etag": etags[0]})

    async def link_fingerprint(self, fingerprint: str, incident: Incident | Recorded) -> bool:
        """Record that an event belongs to an existing incident; False if that event was already recorded."""
        try:
            await tables.insert(await self._incidents(), _fingerprint_row(fingerprint, incident))
        except tables.EntityExists:
            return False
        return True

    async def recorded(self, fingerprint: str) -> Recorded | None:
        """What the event with this fingerprint recorded, from its fingerprint row alone (one point read)."""
        row = await tables.get_or_none(await self._incidents(), INCIDENT_PARTITION, f"fp-{fingerprint}")
        if row is None:
            return None
        if "status" not in row:  # written before fingerprint rows said it: ask the incident
            incident = await self.get(row["incident_id"])
            return Recorded(incident.id, incident.status, incident.plan.summary())
        return Recorded(row["incident_id"], Status(row["status"]), row.get("plan", ""))

    async def find_by_fingerprint(self, fingerprint: str) -> Incident | None:
        found = await self.recorded(fingerprint)
        return None if found is None else await self.get(found.incident_id)

    async def get(self, incident_id: str) -> Incident:
        row = row_key_of(incident_id)  # IncidentNotFound for something that is not an incident id
        try:
            entity = await tables.get(await self._incidents(), INCIDENT_PARTITION, row)
        except tables.EntityMissing:
            raise IncidentNotFound(f"no incident {incident_id}") from None
        return incident_of(entity)

    async def update(self, incident_id: str, change: Callable[[Incident], Incident | None],
                     current: Incident | None = None) -> Incident:
        """Read, apply `change`, write back if unchanged meanwhile; retried on a lost race. `change` may
        return None to write nothing. `current`: the incident as just read (saves the first read)."""
        for attempt in range(20):
            if attempt or current is None or current.etag is None:
                current = await self.get(incident_id)
            changed = change(current.model_copy(deep=True))
            if changed is None:
                return current
            changed.updated_at = self._clock()
            announce = changed.status != current.status and self._record_moment(current.status, changed)
            try:
                etag = await tables.replace_if_unchanged(await self._incidents(), incident_entity(changed), current.etag)
            except tables.EntityChanged:
                continue
            changed.etag = etag
            if not _indexed(changed):
                if _indexed(current):
                    await self._close(incident_id)
            elif _index_outdated(OpenIncident.of(current), OpenIncident.of(changed)):
                await self._index(changed)
            if announce:
                await self._moment_recorded(incident_id)
            return changed
        raise tables.StoreError(f"incident {incident_id} kept changing under 20 attempts to update it")

    async def move(self, incident_id: str, to: Status, reason: str, **fields: Any) -> Incident:
        """Change status through the state machine (status.transition refuses illegal moves)."""

        def change(incident: Incident) -> Incident | None:
            new_status = transition(incident.status, to)
            if new_status == incident.status and not fields and reason == incident.status_reason:
                return None
            incident.status, incident.status_reason = new_status, scrub(reason)
            for key, value in fields.items():
                setattr(incident, key, value)
            if is_final(new_status) and incident.ended_at is None:
                incident.ended_at = self._clock()
            return incident

        return await self.update(incident_id, change)

    async def append(self, incident_id: str, step: str, outcome: str, detail: str = "",
                     duration: timedelta | float | None = None) -> TimelineEntry:
        now = self._clock()
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        entry = TimelineEntry(time=now, step=step, outcome=outcome, detail=scrub_head(detail, _DETAIL_LIMIT),
                              duration_ms=None if seconds is None else int(seconds * 1000))
        entity = entry.model_dump(mode="json", exclude_none=True)
        entity.update(PartitionKey=incident_id, RowKey=f"t-{now:%Y%m%dT%H%M%S.%f}-{secrets.token_hex(2)}")
        await tables.insert(await self._timeline(), entity)
        return entry

    async def forget_timeline(self, incident_id: str) -> None:
        """Delete the timeline of an incident that was never recorded (it lost the race to another delivery)."""
        table = await self._timeline()
        rows = [(incident_id, row["RowKey"]) async for row in tables.query(table, "PartitionKey eq @pk",
                                                                          {"pk": incident_id})]
        await tables.delete_together(table, rows)

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        rows = tables.query(await self._timeline(), "PartitionKey eq @pk and RowKey ge 't-' and RowKey lt 't.'",
                            {"pk": incident_id})
        return [TimelineEntry.model_validate(row) async for row in rows]

    async def step(self, incident_id: str, index: int, kind: str, target: str) -> StepProgress:
        row = await tables.get_or_none(await self._timeline(), incident_id, f"s-{index:03d}")
        if row is None:
            return StepProgress(index=index, kind=kind, target=target)
        progress = StepProgress.model_validate(row | {"data": json.loads(row.get("data") or "{}")})
        progress.etag = row["_etag"]
        return progress

    async def save_step(self, incident_id: str, progress: StepProgress) -> StepProgress:
        """Write the step record; loses (EntityChanged/EntityExists) if another run wrote it first."""
        entity = progress.model_dump(mode="json", exclude_none=True)
        entity.update(PartitionKey=incident_id, RowKey=f"s-{progress.index:03d}", message=scrub(progress.message),
                      data=json.dumps(progress.data, separators=(",", ":"), default=str))
        table = await self._timeline()
        if progress.etag is None:
            etag = await tables.insert(table, entity)
        else:
            etag = await tables.replace_if_unchanged(table, entity, progress.etag)
        return progress.model_copy(update={"etag": etag})

    async def steps(self, incident_id: str) -> list[StepProgress]:
        rows = tables.query(await self._timeline(), "PartitionKey eq @pk and RowKey ge 's-' and RowKey lt 's.'",
                            {"pk": incident_id})
        return [StepProgress.model_validate(row | {"data": json.loads(row.get("data") or "{}")}) async for row in rows]

    async def list(self, *, status: Status | None = None, component: str | None = None,
                   since: datetime | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first. `cursor` is the opaque `next_cursor` of the previous page."""
        clauses, parameters = ["PartitionKey eq @pk", "RowKey lt 'a'"], {"pk": INCIDENT_PARTITION}
        if since is not None:
            clauses.append("RowKey le @since")
            parameters["since"] = _row_key_at(since) + "-~"
        if status is not None:
            clauses.append("status eq @status")
            parameters["status"] = str(status)
        if component is not None:
            clauses.append("component eq @component")
            parameters["component"] = component
        rows, token = await tables.query_page(await self._incidents(), " and ".join(clauses), parameters,
                                              limit, _decode_cursor(cursor))
        return Page(items=[incident_of(row) for row in rows], next_cursor=_encode_cursor(token))

    async def _index(self, incident: Incident) -> None:
        """Bring the open index's row of an incident up to date (unconditionally: the incident is the truth)."""
        await tables.upsert(await self._open_index(), _open_entity(OpenIncident.of(incident)))

    async def _close(self, incident_id: str) -> None:
        """Take an incident that ended out of the open index (the reconciler mends a crash in between)."""
        with contextlib.suppress(tables.EntityMissing):
            await tables.delete(await self._open_index(), "open", row_key_of(incident_id))

    async def open(self) -> list[OpenIncident]:
        """Every incident not yet final, as the open index holds it: one query of that table (paged by
        continuation token, as Table Storage may answer short pages), no incident read."""
        rows = tables.query(await self._open_index(), "PartitionKey eq 'open'")
        found = []
        async for row in rows:
            try:
                found.append(OpenIncident.model_validate(row))
            except ValueError as error:  # written by another version, say: never stop the sweep
                log.error("open-index row %s is unreadable and was skipped: %s", row.get("RowKey"), error)
        return found

    async def refresh(self, entry: OpenIncident) -> Incident | None:
        """The incident behind an index row, read now; None (and the row removed, or mended) if it has ended or
        the row no longer says what the incident does."""
        try:
            incident = await self.get(entry.incident_id)
        except IncidentNotFound:
            await self._close(entry.incident_id)
            return None
        if not _indexed(incident):
            await self._close(entry.incident_id)
            return None
        if OpenIncident.of(incident) != entry:
            await self._index(incident)
        return incident

    async def remove_closed_before(self, cutoff: datetime, limit: int = 200) -> int:
        """Delete up to `limit` final incidents that started before `cutoff`, with their fingerprints, timeline
        and steps (retention). The oldest go first; an open one is kept whatever its age."""
        table, timeline = await self._incidents(), await self._timeline()
        rows = tables.query(table, "PartitionKey eq @pk and RowKey gt @cutoff and RowKey lt 'a'",
                            {"pk": INCIDENT_PARTITION, "cutoff": _row_key_at(cutoff) + "-~"})
        removed = 0
        async for row in rows:
            if removed >= limit:
                break
            try:
                incident = incident_of(row)
            except (ValueError, KeyError):
                continue
            if not is_final(incident.status):
                continue
            entries = [entry async for entry in tables.query(timeline, "PartitionKey eq @pk", {"pk": incident.id})]
            await tables.delete_together(timeline, [(incident.id, entry["RowKey"]) for entry in entries])
            keys = [(INCIDENT_PARTITION, f"fp-{fp}") for fp in [incident.fingerprint, *incident.linked_fingerprints]]
            await tables.delete_together(table, [*keys, (INCIDENT_PARTITION, row["RowKey"])])
            removed += 1
        return removed


def _indexed(incident: Incident) -> bool:
    """In the open index: not final, or final with moments still to announce (the index is their outbox)."""
    return not is_final(incident.status) or bool(incident.pending_moments)


def _index_outdated(before: OpenIncident, after: OpenIncident) -> bool:
    """Does the index row need writing? Not when only the due time moved later: an index that says "due
    earlier" costs the reconciler one read of the incident, which then mends the row; one that said "due later"
    would hide a stuck incident."""
    return after != before and not (after.model_copy(update={"due": before.due}) == before and after.due >= before.due)


def _compacted(incident: Incident, refused: Exception) -> Incident:
    """The incident without what can make a record too large (the raw payload, the event's free text)."""
    keep = ("source", "schema_name", "rule_name", "alert_id", "severity", "condition", "fired_at", "signal_type")
    event = {key: str(incident.event[key])[:512] for key in keep if incident.event.get(key) is not None}
    event["compacted"] = (f"storage refused the full record ({getattr(refused, 'code', None) or 'refused'}); "
                          "the payload and the event's long fields are not kept")
    return incident.model_copy(update={"raw": None, "event": event, "reason": incident.reason[:500],
                                       "status_reason": incident.status_reason[:1000]})


def _encode_cursor(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> Any:
    """The storage continuation token an `_encode_cursor` cursor holds: a PartitionKey and RowKey, each short
    printable ASCII. Anything else never reaches storage (a forged token there is storage's 400, or worse)."""
    from shared.decide.payloads import decode_json

    if not cursor:
        return None
    refused = InvalidCursor()
    if not _CURSOR.fullmatch(cursor):
        raise refused
    try:
        token = decode_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (PayloadError, ValueError, binascii.Error):  # not base64, not JSON, nested, ...
        raise refused from None
    if not (isinstance(token, dict) and "PartitionKey" in token and set(token) <= {"PartitionKey", "RowKey"}
            and all(isinstance(value, str) and _TOKEN_PART.fullmatch(value) for value in token.values())):
        raise refused
    return token
