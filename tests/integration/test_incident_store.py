"""The incident store, cooldowns and leases against real Table Storage (Azurite)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.store import tables
from shared.decide.incident import Incident, Recorded, new_incident_id
from shared.errors import IncidentNotFound, InvalidCursor, LeaseHeld, TransitionRefused
from shared.store.guards import Guards
from shared.store.incidents import IncidentStore, incident_entity, row_key_of
from shared.decide.plan import Decision, Plan
from shared.errors import StoreRejected
from shared.decide.status import Status, StepPhase, StepState
from shared.store.storage import StorageAccount, StorageConnection


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def storage(azurite, clock):
    table_set = tables.Tables(StorageAccount(StorageConnection(connection_string=azurite.connection_string)),
                              f"t{uuid.uuid4().hex[:10]}")
    yield IncidentStore(table_set, clock), Guards(table_set, clock)
    await table_set.aclose()


def incident(clock: Clock, fingerprint: str | None = None, component: str = "backend",
             status: Status = Status.ACCEPTED) -> Incident:
    now = clock()
    return Incident(id=new_incident_id(now), source="alert", fingerprint=fingerprint or uuid.uuid4().hex,
                    alert_rule="backend 5xx", component=component, reason="test", status=status,
                    plan=Plan(decision=Decision.RUN, reason="test"), started_at=now, updated_at=now)


async def test_incident_ids_sort_newest_first_and_map_to_row_keys(clock):
    first = new_incident_id(clock())
    clock.advance(milliseconds=1)
    second = new_incident_id(clock())
    assert row_key_of(second) < row_key_of(first)
    with pytest.raises(IncidentNotFound):
        row_key_of("not-an-id")


async def test_create_then_get_round_trips_the_record(storage, clock):
    store, _ = storage
    created = await store.create(incident(clock))
    assert isinstance(created, Incident)
    loaded = await store.get(created.id)
    assert loaded.model_dump(exclude={"etag"}) == created.model_dump(exclude={"etag"})
    assert loaded.started_at == clock()


async def test_concurrent_creates_with_one_fingerprint_make_one_incident(storage, clock):
    store, _ = storage
    results = await asyncio.gather(*(store.create(incident(clock, fingerprint="same")) for _ in range(10)))
    assert sum(isinstance(result, Incident) for result in results) == 1
    assert sum(isinstance(result, Recorded) for result in results) == 9  # what the winner recorded, read back
    assert len({result.id for result in results}) == 1
    page = await store.list()
    assert len(page.items) == 1


async def test_status_moves_through_the_state_machine_only(storage, clock):
    store, _ = storage
    record = await store.create(incident(clock))
    await store.move(record.id, Status.RUNNING, "executing")
    done = await store.move(record.id, Status.RESOLVED, "done")
    assert done.status is Status.RESOLVED and done.ended_at == clock()
    with pytest.raises(TransitionRefused):
        await store.move(record.id, Status.RUNNING, "again")
    assert (await store.get(record.id)).status is Status.RESOLVED


async def test_concurrent_updates_are_not_lost(storage, clock):
    store, _ = storage
    record = await store.create(incident(clock))

    def bump(current: Incident) -> Incident:
        current.redrives += 1
        return current

    await asyncio.gather(*(store.update(record.id, bump) for _ in range(8)))
    assert (await store.get(record.id)).redrives == 8


async def test_timeline_is_append_only_and_in_order(storage, clock):
    store, _ = storage
    record = await store.create(incident(clock))
    for number in range(5):
        clock.advance(milliseconds=3)
        await store.append(record.id, "step", "info", f"entry {number}", duration=0.25)
    entries = await store.timeline(record.id)
    assert [entry.detail for entry in entries] == [f"entry {n}" for n in range(5)]
    assert entries[0].duration_ms == 250


async def test_secrets_in_timeline_details_are_masked(storage, clock):
    store, _ = storage
    record = await store.create(incident(clock))
    await store.append(record.id, "flush_cache[0]", "failed", "AUTH failed for password=hunter2hunter2")
    entries = await store.timeline(record.id)
    assert "hunter2hunter2" not in entries[0].detail


async def test_list_filters_pages_and_orders_newest_first(storage, clock):
    store, _ = storage
    ids = []
    for number in range(7):
        clock.advance(seconds=1)
        record = await store.create(incident(clock, component="frontend" if number % 2 else "backend"))
        ids.append(record.id)
    await store.move(ids[-1], Status.RUNNING, "go")

    first = await store.list(limit=3)
    assert [i.id for i in first.items] == ids[::-1][:3] and first.next_cursor
    second = await store.list(limit=3, cursor=first.next_cursor)
    assert [i.id for i in second.items] == ids[::-1][3:6]
    assert [i.id for i in (await store.list(component="frontend")).items] == [ids[5], ids[3], ids[1]]
    assert [i.id for i in (await store.list(status=Status.RUNNING)).items] == [ids[-1]]
    since = clock() - timedelta(seconds=1.5)
    assert [i.id for i in (await store.list(since=since)).items] == [ids[6], ids[5]]
    with pytest.raises(InvalidCursor):
        await store.list(cursor="garbage!")


async def test_step_progress_writes_lose_to_a_newer_write(storage, clock):
    store, _ = storage
    record = await store.create(incident(clock))
    progress = await store.step(record.id, 0, "swap_back", "/x")
    saved = await store.save_step(record.id, progress.model_copy(update={"state": StepState.RUNNING}))
    await store.save_step(record.id, saved.model_copy(update={"phase": StepPhase.EXECUTE}))
    with pytest.raises(tables.EntityChanged):
        await store.save_step(record.id, saved.model_copy(update={"phase": StepPhase.VERIFY}))
    assert (await store.step(record.id, 0, "swap_back", "/x")).phase is StepPhase.EXECUTE


async def test_one_cooldown_per_target_whoever_claims_first(storage, clock):
    _, guards = storage
    claims = await asyncio.gather(*(guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), f"inc-{n}")
                                    for n in range(8)))
    assert len({claim.incident_id for claim in claims}) == 1
    winner = claims[0].incident_id
    assert (await guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), winner)).incident_id == winner
    assert (await guards.claim_cooldown("restart|/site", timedelta(minutes=30), "inc-other")).incident_id == \
        "inc-other"  # another kind on the same target has its own cooldown
    clock.advance(minutes=31)
    assert (await guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), "inc-late")).incident_id == "inc-late"


async def test_a_lease_is_exclusive_until_it_expires(storage, clock):
    _, guards = storage
    lease = await guards.acquire_lease("/site", "run-1", "inc-1", timedelta(seconds=60))
    with pytest.raises(LeaseHeld) as caught:
        await guards.acquire_lease("/site", "run-2", "inc-2", timedelta(seconds=60))
    assert caught.value.incident_id == "inc-1"
    lease = await guards.renew_lease(lease, timedelta(seconds=60))
    clock.advance(seconds=61)
    taken = await guards.acquire_lease("/site", "run-2", "inc-2", timedelta(seconds=60))
    with pytest.raises(LeaseHeld):
        await guards.renew_lease(lease, timedelta(seconds=60))  # run-1 lost it
    await guards.release_lease(taken)
    await guards.acquire_lease("/site", "run-3", "inc-3", timedelta(seconds=60))


async def test_releasing_a_lease_another_run_took_over_leaves_it_to_them(storage, clock):
    _, guards = storage
    lost = await guards.acquire_lease("/site", "run-1", "inc-1", timedelta(seconds=60))
    clock.advance(seconds=61)
    taken = await guards.acquire_lease("/site", "run-2", "inc-2", timedelta(seconds=60))
    await guards.release_lease(lost)  # no error, and run-2 keeps the target
    with pytest.raises(LeaseHeld) as caught:
        await guards.acquire_lease("/site", "run-3", "inc-3", timedelta(seconds=60))
    assert caught.value.incident_id == "inc-2"
    await guards.release_lease(taken)


async def test_a_cooldown_can_be_given_back_only_by_its_holder(storage):
    _, guards = storage
    await guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), "inc-1")
    await guards.release_cooldown("swap_back|/site", "inc-2")
    assert (await guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), "inc-3")).incident_id == "inc-1"
    await guards.release_cooldown("swap_back|/site", "inc-1")
    assert (await guards.claim_cooldown("swap_back|/site", timedelta(minutes=30), "inc-3")).incident_id == "inc-3"


async def test_the_open_index_holds_exactly_the_incidents_not_yet_final(storage, clock):
    store, _ = storage
    running = await store.create(incident(clock))
    clock.advance(seconds=1)
    ending = await store.create(incident(clock))
    clock.advance(seconds=1)
    await store.create(incident(clock, status=Status.SUPPRESSED))  # final from the start: never indexed

    assert {i.incident_id for i in await store.open()} == {running.id, ending.id}
    await store.move(ending.id, Status.RUNNING, "started")
    assert {(i.incident_id, i.status) for i in await store.open()} == {(running.id, Status.ACCEPTED),
                                                                       (ending.id, Status.RUNNING)}
    await store.move(ending.id, Status.RESOLVED, "done")
    assert [i.incident_id for i in await store.open()] == [running.id]
    open_rows = [row async for row in tables.query(await store._open_index(), "PartitionKey eq 'open'")]
    assert [row["incident_id"] for row in open_rows] == [running.id]


async def test_an_index_row_left_by_a_crash_after_the_incident_ended_is_mended(storage, clock):
    store, _ = storage
    created = await store.create(incident(clock))
    ended = (await store.get(created.id)).model_copy(update={"status": Status.FAILED})
    await tables.replace_if_unchanged(await store._incidents(), incident_entity(ended), created.etag)  # no _close

    [entry] = await store.open()
    assert await store.refresh(entry) is None
    assert await store.open() == []
    rows = [row async for row in tables.query(await store._open_index(), "PartitionKey eq 'open'")]
    assert rows == []


async def test_retention_removes_old_closed_incidents_with_their_timeline_and_keeps_open_ones(storage, clock):
    store, _ = storage
    old_closed = await store.create(incident(clock, status=Status.SUPPRESSED))
    await store.append(old_closed.id, "intake", "suppressed", "no rule matches")
    old_open = await store.create(incident(clock))
    clock.advance(days=100)
    recent_closed = await store.create(incident(clock, status=Status.SUPPRESSED))

    removed = await store.remove_closed_before(clock() - timedelta(days=90))

    assert removed == 1
    with pytest.raises(IncidentNotFound):
        await store.get(old_closed.id)
    assert await store.timeline(old_closed.id) == []
    assert await store.find_by_fingerprint(old_closed.fingerprint) is None
    assert (await store.get(old_open.id)).status is Status.ACCEPTED  # still open: kept whatever its age
    assert (await store.get(recent_closed.id)).id == recent_closed.id
    again = await store.create(incident(clock, fingerprint=old_closed.fingerprint))
    assert again.id != old_closed.id  # its fingerprint went with it


async def test_an_oversized_record_is_refused_by_storage_not_reported_unavailable(storage, clock, caplog):
    store, _ = storage
    guards_table = await store._tables.table("guards")
    with pytest.raises(StoreRejected) as caught:  # Table Storage: 32K characters a property
        await tables.insert(guards_table, {"PartitionKey": "p", "RowKey": "r", "note": "y" * 40_000})
    assert caught.value.status == 400 and caught.value.code == "PropertyValueTooLarge"
    assert "refused" in str(caught.value) and "y" * 100 not in str(caught.value)
    with pytest.raises(StoreRejected) as caught:  # the same inside a transaction
        await tables.insert_together(guards_table, [{"PartitionKey": "p", "RowKey": "r", "note": "y" * 40_000}])
    assert caught.value.code == "PropertyValueTooLarge"

    # the store records an incident refused as too large without its payload (it used to be a StoreError: 503)
    created = await store.create(incident(clock).model_copy(update={"raw": "x" * 40_000}))
    assert isinstance(created, Incident) and created.raw is None and "PropertyValueTooLarge" in created.event["compacted"]
    assert "PropertyValueTooLarge" in caplog.text


# ----- paging, on Azurite (full pages) and on the short-pages stand-in (short and empty pages, as Table Storage) ----

@pytest.fixture(params=["azurite", "short_pages"])
async def paged(request, azurite, clock):
    """An incident store on plain Azurite, or with its tables behind the short-pages proxy."""
    connection = (azurite.connection_string if request.param == "azurite"
                  else request.getfixturevalue("short_pages_storage"))
    table_set = tables.Tables(StorageAccount(StorageConnection(connection_string=connection)),
                              f"t{uuid.uuid4().hex[:10]}")
    yield IncidentStore(table_set, clock)
    await table_set.aclose()


async def created(store: IncidentStore, clock: Clock, count: int, **kinds) -> list[str]:
    """`count` incidents one second apart (kinds: field -> function of the index), newest first."""
    ids = []
    for number in range(count):
        clock.advance(seconds=1)
        fields = {name: pick(number) for name, pick in kinds.items()}
        record = await store.create(incident(clock, **fields))
        ids.append(record.id)
    return ids[::-1]


async def every_page(store: IncidentStore, limit: int, **filters) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await store.list(limit=limit, cursor=cursor, **filters)
        pages.append([item.id for item in page.items])
        if page.next_cursor is None:
            return pages
        assert page.next_cursor != cursor, "a cursor that does not move"
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
async def test_listing_page_by_page_returns_every_incident_once_newest_first(paged, clock, limit):
    newest_first = await created(paged, clock, 11)
    pages = await every_page(paged, limit)
    assert [incident_id for page in pages for incident_id in page] == newest_first  # none skipped or repeated
    assert all(len(page) == limit for page in pages[:-1])  # no short (or empty) page while more exist
    assert all(pages)  # here a cursor always has rows after it: not even the last page is empty


async def test_a_filtered_listing_pages_through_the_rows_it_skips(paged, clock):
    newest_first = await created(paged, clock, 12, component=lambda n: "frontend" if n % 4 == 0 else "backend")
    frontend = [incident_id for index, incident_id in enumerate(newest_first) if (11 - index) % 4 == 0]
    pages = await every_page(paged, 2, component="frontend")
    assert [incident_id for page in pages for incident_id in page] == frontend
    assert all(len(page) == 2 for page in pages[:-1])


async def test_timeline_and_steps_read_every_row_in_order(paged, clock):
    record = await paged.create(incident(clock))
    for number in range(14):
        clock.advance(milliseconds=5)
        await paged.append(record.id, "step", "info", f"entry {number}")
    for index in range(4):
        await paged.save_step(record.id, await paged.step(record.id, index, "swap_back", f"/site/{index}"))
    assert [entry.detail for entry in await paged.timeline(record.id)] == [f"entry {n}" for n in range(14)]
    assert [step.index for step in await paged.steps(record.id)] == [0, 1, 2, 3]


async def test_the_open_index_and_retention_see_every_row(paged, clock):
    newest_first = await created(paged, clock, 9, status=lambda n: Status.AWAITING_APPROVAL if n % 3 else Status.RESOLVED)
    waiting = {i for i in newest_first if (await paged.get(i)).status is Status.AWAITING_APPROVAL}
    closed = set(newest_first) - waiting
    for incident_id in closed:
        for number in range(3):
            await paged.append(incident_id, "step", "info", f"entry {number}")
    assert {entry.incident_id for entry in await paged.open()} == waiting and len(waiting) == 6

    clock.advance(days=1)
    assert await paged.remove_closed_before(clock()) == len(closed) == 3
    assert [i for page in await every_page(paged, 2) for i in page] == [i for i in newest_first if i in waiting]
    assert [await paged.timeline(incident_id) for incident_id in closed] == [[], [], []]


async def test_the_short_pages_stand_in_cuts_pages_that_the_sdk_follows(short_pages, short_pages_storage, clock):
    """The stand-in is only worth its tests if it really answers short and empty pages."""
    table_set = tables.Tables(StorageAccount(StorageConnection(connection_string=short_pages_storage)),
                              f"t{uuid.uuid4().hex[:10]}")
    try:
        table = await table_set.table("timeline")
        for number in range(30):
            await tables.insert(table, {"PartitionKey": "p", "RowKey": f"r{number:03d}"})
        reads = [[row["RowKey"] async for row in tables.query(table, "PartitionKey eq 'p'")] for _ in range(5)]
    finally:
        await table_set.aclose()
    assert reads == [[f"r{number:03d}" for number in range(30)]] * 5
    assert short_pages.short_pages >= 3 and short_pages.empty_pages >= 1, vars(short_pages)
