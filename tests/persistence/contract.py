"""The contract every storage backend honours, as one abstract test suite.

A backend's test module subclasses `StoreContract` and overrides two fixtures: `make_store`, an
async factory that opens a new `Store` on the same database every time it is called (calling
it again is how the suite "reopens" or starts a second process), and `raw_sql`, which runs a
statement straight on that database, behind the store's back (to damage it). The SQL the
suite sends is plain enough for every backend.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import T0, actors, json_objects
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.persistence.errors import SeqMismatch, StoreError
from vm_registry.persistence.log import GENESIS_HASH, EventLog, EventQuery, chain_hashes
from vm_registry.persistence.sql import reading
from vm_registry.persistence.store import Store

StoreFactory = Callable[..., Awaitable[Store]]  # (*, read_only: bool = False) -> opened store
RawSql = Callable[[str], Awaitable[None]]


def new(
    vm_id: str = "vm-1",
    kind: str = ev.HEARTBEAT,
    at: int = T0,
    actor: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """An event not yet numbered (seq 0): `append` gives it the next seq under the lock."""
    return Event(0, kind, vm_id, at, actor or {}, data or {})


async def append(log: EventLog, batch: Sequence[Event]) -> list[Event]:
    """Number `batch` on from the true head and append it, as the writer does."""
    async with log.locked() as tx:
        numbered = [event._replace(seq=tx.head + i) for i, event in enumerate(batch, start=1)]
        await tx.append(numbered)
    return numbered


def as_events(first_seq: int, batch: list[Event]) -> list[Event]:
    return [event._replace(seq=first_seq + i) for i, event in enumerate(batch)]


async def scan_all(log: EventLog, after: int = 0, upto: int | None = None) -> list[Event]:
    found: list[Event] = []
    async for chunk in log.scan(after=after, upto=upto):
        assert chunk, "scan yields no empty chunks"
        found.extend(chunk)
    return found


async def replayed_rows(log: EventLog, after: int = 0) -> list[Event | tuple[int, str, int]]:
    """What `scan_for_replay` hands the fold, each row read through its chunk: a heartbeat as
    (seq, vm id, at), anything else as its event."""
    return [
        (row[0], chunk.names[row[2]], row[3]) if row[1] == chunk.heartbeat else chunk.decode(row)
        async for chunk in log.scan_for_replay(after=after)
        for row in chunk.rows
    ]


def replay_view(events: list[Event]) -> list[Event | tuple[int, str, int]]:
    return [(e.seq, e.vm_id, e.at) if e.type == ev.HEARTBEAT else e for e in events]


REGISTRATION = {
    "name": "billing",
    "role": "lieutenant",
    "status": "running",
    "address": "a.vm.vers.sh",
    "registeredBy": "orchestrator",
    "services": [{"name": "pi-rpc", "port": 3001}],
    "metadata": {"task": "process invoices", "n": 1.5, "tags": ["x", None, True]},
}
MIXED = [
    new("vm-1", ev.REGISTERED, T0, {"ip": "127.0.0.1", "userAgent": "curl/8"}, REGISTRATION),
    new("vm-2", ev.REGISTERED, T0 + 1, {"ip": "::1"}, {**REGISTRATION, "role": "infra"}),
    new("vm-1", ev.HEARTBEAT, T0 + 1, {"ip": "127.0.0.1", "userAgent": "curl/8"}),
    new("vm-1", ev.UPDATED, T0 + 5, {}, {"status": "paused", "metadata": None}),
    new("vm-2", ev.STALE, T0 + 9),
    new("vm-2", ev.DEREGISTERED, T0 + 20, {"ip": "::1"}),
]


class StoreContract:
    @pytest.fixture
    def make_store(self) -> StoreFactory:
        raise NotImplementedError("each backend says how to create its store")

    @pytest.fixture
    def raw_sql(self) -> RawSql:
        raise NotImplementedError("each backend says how to reach its database directly")

    @pytest.fixture
    def make_unreachable(self) -> StoreFactory:
        raise NotImplementedError("each backend says what a store it cannot reach looks like")

    @pytest.fixture
    async def store(self, make_store: StoreFactory) -> AsyncIterator[Store]:
        opened = await make_store()
        try:
            yield opened
        finally:
            await opened.close()

    @pytest.fixture
    def log(self, store: Store) -> EventLog:
        return store.log

    # -- the log: appending under the lock -------------------------------------------------

    async def test_an_empty_log_has_nothing(self, log: EventLog) -> None:
        assert (log.head, log.first_seq, log.last_hash) == (0, 1, GENESIS_HASH)
        assert await log.read(EventQuery()) == []
        assert await log.read_after(0, 10) == []
        assert await scan_all(log) == []
        assert await log.seq_at_time(T0) == 0
        assert await log.hash_at(1) is None

    async def test_appended_events_read_back_with_the_seqs_the_writer_chose(
        self, log: EventLog
    ) -> None:
        first = await append(log, MIXED[:2])
        assert first == as_events(1, MIXED[:2])
        assert log.head == 2
        second = await append(log, MIXED[2:])
        assert log.head == len(MIXED)
        assert await log.read(EventQuery(limit=1000)) == first + second

    async def test_the_lock_shows_the_true_head_and_what_others_committed(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        try:
            written = await append(one.log, MIXED[:3])
            async with two.log.locked() as tx:
                assert (tx.head, tx.last_hash) == (3, one.log.last_hash)
                assert await tx.newer(after=0) == written
                assert await tx.newer(after=1) == written[1:]
                assert await tx.newer(after=3) == []
                await tx.append(as_events(4, MIXED[3:4]))
                assert tx.head == 4
                assert await tx.newer(after=3) == as_events(4, MIXED[3:4])
            assert two.log.head == 4
            assert await one.log.read_after(3, 10) == as_events(4, MIXED[3:4])
            # The first handle numbers on from the other's event, not from its own memory.
            assert (await append(one.log, MIXED[4:5]))[0].seq == 5
        finally:
            await one.close()
            await two.close()

    async def test_an_assumed_head_appends_only_while_nobody_else_did(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        try:
            mine = await append(one.log, MIXED[:2])
            async with one.log.locked(assume_head=2) as tx:
                assert (tx.head, tx.last_hash) == (2, one.log.last_hash)
                await tx.append(as_events(3, MIXED[2:3]))
            assert one.log.head == 3
            theirs = await append(two.log, [new("vm-theirs", actor={"by": "two"})])
            # The first handle still believes the head is 3: it writes nothing, not even its
            # new VM and actor, and says so.
            with pytest.raises(SeqMismatch):
                async with one.log.locked(assume_head=3) as tx:
                    await tx.append([new("vm-mine", actor={"by": "one"})._replace(seq=4)])
            with pytest.raises(SeqMismatch):  # nothing to append: the head is checked as well
                async with one.log.locked(assume_head=3) as tx:
                    pass
            assert await scan_all(two.log) == mine + as_events(3, MIXED[2:3]) + theirs
            # Under the lock the ordinary way, it numbers on from the other's event.
            assert await append(one.log, [new("vm-mine", actor={"by": "one"})]) == [
                new("vm-mine", actor={"by": "one"})._replace(seq=5)
            ]
            assert await two.log.read(EventQuery(vm_id="vm-mine")) == as_events(
                5, [new("vm-mine", actor={"by": "one"})]
            )
        finally:
            await one.close()
            await two.close()

    async def test_a_head_this_handle_has_not_committed_itself_is_never_assumed(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        changes = one.log.heads()
        try:
            assert await asyncio.wait_for(anext(changes), 10) == 0
            await append(two.log, [new("vm-theirs", actor={"by": "two"})])
            assert await asyncio.wait_for(anext(changes), 10) == 1  # seen, not committed by it
            async with one.log.locked(assume_head=1) as tx:  # so it takes the lock first
                assert await tx.newer(after=0) == await two.log.read_after(0, 10)
                await tx.append([new("vm-mine", actor={"by": "one"})._replace(seq=2)])
            assert [e.vm_id for e in await scan_all(two.log)] == ["vm-theirs", "vm-mine"]
        finally:
            await changes.aclose()
            await one.close()
            await two.close()

    async def test_a_handle_that_followed_others_appends_new_vms_of_its_own(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        changes = one.log.heads()
        try:
            assert await asyncio.wait_for(anext(changes), 10) == 0
            theirs = await append(two.log, [new("vm-theirs", actor={"by": "two"})])
            assert await asyncio.wait_for(anext(changes), 10) == 1  # head seen, not its rows
            mine = await append(one.log, [new("vm-mine", actor={"by": "one"})])
            assert await one.log.read(EventQuery(vm_id="vm-mine")) == mine
            assert await two.log.read(EventQuery(vm_id="vm-theirs")) == theirs
            assert await two.log.read_after(0, 10) == theirs + mine
        finally:
            await changes.aclose()
            await one.close()
            await two.close()

    async def test_two_handles_appending_at_once_never_reuse_a_seq(
        self, make_store: StoreFactory
    ) -> None:
        handles = [await make_store() for _ in range(3)]
        try:
            await asyncio.gather(
                *(
                    append(h.log, [new(f"vm-{n}-{i}") for i in range(3)])
                    for n, h in enumerate(handles)
                    for _ in range(4)
                )
            )
            events = await scan_all(handles[0].log)
            assert [e.seq for e in events] == list(range(1, 37))
        finally:
            for handle in handles:
                await handle.close()

    async def test_seqs_that_do_not_continue_the_head_are_refused_and_nothing_is_written(
        self, log: EventLog
    ) -> None:
        await append(log, MIXED[:1])
        for wrong in (
            [MIXED[1]._replace(seq=3)],
            [MIXED[1]._replace(seq=1)],
            as_events(2, MIXED[1:3])[::-1],
        ):
            with pytest.raises(SeqMismatch):
                async with log.locked() as tx:
                    await tx.append(wrong)
        assert log.head == 1
        assert [e.seq for e in await scan_all(log)] == [1]

    async def test_an_exception_under_the_lock_rolls_the_whole_transaction_back(
        self, log: EventLog
    ) -> None:
        before = log.last_hash
        with pytest.raises(RuntimeError):
            async with log.locked() as tx:
                await tx.append(as_events(1, MIXED[:3]))
                raise RuntimeError("the writer changed its mind")
        assert (log.head, log.last_hash) == (0, before)
        assert await scan_all(log) == []
        assert not await log.vm_known("vm-1")
        # The ids the rolled-back batch had taken are free again and nothing is mixed up.
        assert await append(log, MIXED[1:2]) == as_events(1, MIXED[1:2])
        assert await log.read(EventQuery(vm_id="vm-2")) == as_events(1, MIXED[1:2])

    async def test_appending_nothing_changes_nothing(self, log: EventLog) -> None:
        await append(log, MIXED[:1])
        assert await append(log, []) == []
        assert log.head == 1
        assert [e.seq for e in await log.read(EventQuery())] == [1]

    async def test_many_batches_leave_no_gaps(self, log: EventLog) -> None:
        for size in (1, 3, 1, 7, 2):
            await append(log, [new(f"vm-{i}") for i in range(size)])
        assert [e.seq for e in await scan_all(log)] == list(range(1, 15))
        assert log.head == 14

    # -- the log: reading -----------------------------------------------------------------

    async def test_read_and_read_after_page_through_the_log(self, log: EventLog) -> None:
        await append(log, [new(at=T0 + i) for i in range(10)])
        page = await log.read(EventQuery(after=3, limit=4))
        assert [e.seq for e in page] == [4, 5, 6, 7]
        assert await log.read(EventQuery(after=10)) == []
        assert [e.seq for e in await log.read(EventQuery(after=2, upto=5))] == [3, 4, 5]
        assert [e.seq for e in await log.read_after(6, 3)] == [7, 8, 9]
        assert [e.seq for e in await log.read_after(8, 100)] == [9, 10]
        assert await log.read_after(2**70, 5) == []
        assert [e.seq for e in await log.read_after(-(2**70), 2**70)] == list(range(1, 11))

    async def test_a_limit_of_zero_or_less_reads_nothing_on_every_backend(
        self, log: EventLog
    ) -> None:
        # SQLite reads `LIMIT -1` as no limit at all; a negative limit means no rows here.
        await append(log, [new(at=T0 + i) for i in range(3)])
        for limit in (0, -1, -(2**70)):
            assert await log.read(EventQuery(limit=limit)) == []
            assert await log.read_after(0, limit) == []
        assert await log.read(EventQuery(types=())) == []
        assert [e.seq for e in await log.read(EventQuery(since=-(2**70), until=2**70))] == [
            1,
            2,
            3,
        ]

    async def test_read_filters_by_vm_type_and_time(self, log: EventLog) -> None:
        await append(log, MIXED)
        by_vm = await log.read(EventQuery(vm_id="vm-2"))
        assert [e.seq for e in by_vm] == [2, 5, 6]
        assert await log.read(EventQuery(vm_id="never-seen")) == []
        by_type = await log.read(EventQuery(types=(ev.REGISTERED, ev.DEREGISTERED)))
        assert [e.seq for e in by_type] == [1, 2, 6]
        by_time = await log.read(EventQuery(since=T0 + 1, until=T0 + 9))
        assert [e.seq for e in by_time] == [2, 3, 4, 5]
        both = await log.read(EventQuery(vm_id="vm-1", types=(ev.UPDATED,)))
        assert [e.seq for e in both] == [4]

    async def test_scans_give_every_event_in_order_within_bounds(self, log: EventLog) -> None:
        await append(log, MIXED)
        assert await scan_all(log) == as_events(1, MIXED)
        assert [e.seq for e in await scan_all(log, after=2)] == [3, 4, 5, 6]
        assert [e.seq for e in await scan_all(log, after=1, upto=4)] == [2, 3, 4]
        assert await scan_all(log, after=6) == []
        assert await replayed_rows(log, after=1) == replay_view(as_events(1, MIXED)[1:])

    async def test_a_scans_pages_end_where_their_data_reach_the_byte_budget(
        self, log: EventLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # 20,000 rows of 64 KiB metadata were one page (1.3 GB); the budget is lowered here
        # so that a few 100 KB rows cross it.
        monkeypatch.setattr(reading, "PAGE_BYTES", 250_000)
        big = [new(kind=ev.UPDATED, data={"metadata": {"pad": "x" * 100_000}})] * 7
        written = await append(log, [new(), *big, new(), new()])
        pages = [[e.seq for e in chunk] async for chunk in log.scan()]
        # Each page ends with the row at which its data reach the budget, or at the end.
        assert pages == [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10]]
        assert await scan_all(log) == written
        hashed = [[e.seq for e, _ in chunk] async for chunk in log.scan_hashes(upto=6)]
        assert hashed == [[1, 2, 3, 4], [5, 6]]
        # A read with a byte budget ends the same way, within its filters and limit.
        assert [e.seq for e in await log.read(EventQuery(max_bytes=250_000))] == [1, 2, 3, 4]
        updates = EventQuery(after=4, types=(ev.UPDATED,), max_bytes=250_000)
        assert [e.seq for e in await log.read(updates)] == [5, 6, 7]
        assert [e.seq for e in await log.read(EventQuery(limit=2, max_bytes=250_000))] == [1, 2]
        assert await log.read(EventQuery(after=10, max_bytes=250_000)) == []
        # A row over the budget is a page of its own, so a scan moves on; heartbeats have no
        # data to count.
        monkeypatch.setattr(reading, "PAGE_BYTES", 1)
        assert [len(chunk) async for chunk in log.scan(after=1)] == [1] * 7 + [2]

    async def test_replay_rows_name_vms_and_actors_another_handle_added_after_opening(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        try:
            await append(two.log, MIXED)  # vm-1, vm-2 and their actors: new to `one`'s caches
            assert await replayed_rows(one.log) == replay_view(as_events(1, MIXED))
        finally:
            await one.close()
            await two.close()

    async def test_startup_replay_reports_a_row_naming_a_missing_vm_as_corrupt(
        self, log: EventLog, raw_sql: RawSql
    ) -> None:
        from vm_registry.persistence.errors import StoreCorrupt
        from vm_registry.service.bootstrap import replay

        await append(log, MIXED)
        await raw_sql("UPDATE events SET vm = 999 WHERE seq = 3")  # the heartbeat
        with pytest.raises(StoreCorrupt) as caught:
            await replay(log)
        assert caught.value.seq == 3

    async def test_stored_hashes_form_the_chain_and_survive_reopening(
        self, make_store: StoreFactory
    ) -> None:
        store = await make_store()
        try:
            written = await append(store.log, MIXED[:2])
            await append(store.log, MIXED[2:])
            pairs = [p async for chunk in store.log.scan_hashes() for p in chunk]
            expected = chain_hashes(as_events(1, MIXED), GENESIS_HASH)
            assert [h for _, h in pairs] == expected
            assert [e for e, _ in pairs][:2] == written
            assert [
                h for _, h in [p async for c in store.log.scan_hashes(after=2, upto=4) for p in c]
            ] == expected[2:4]
            assert await store.log.hash_at(3) == expected[2]
            assert store.log.last_hash == expected[-1]
        finally:
            await store.close()
        reopened = await make_store()
        try:
            assert reopened.log.last_hash == expected[-1]
            async with reopened.log.locked() as tx:
                assert tx.last_hash == expected[-1]
        finally:
            await reopened.close()

    async def test_seq_at_time_finds_the_last_event_at_or_before(self, log: EventLog) -> None:
        await append(log, [new(at=t) for t in (T0 + 10, T0 + 10, T0 + 20, T0 + 30)])
        assert await log.seq_at_time(T0) == 0
        assert await log.seq_at_time(T0 + 10) == 2
        assert await log.seq_at_time(T0 + 25) == 3
        assert await log.seq_at_time(T0 + 30) == 4
        assert await log.seq_at_time(T0 + 10**9) == 4
        assert await log.seq_at_time(2**70) == 4

    async def test_vm_known_sees_ids_appended_by_another_handle(
        self, make_store: StoreFactory
    ) -> None:
        one, two = await make_store(), await make_store()
        try:
            assert not await two.log.vm_known("vm-1")
            await append(one.log, MIXED[:1])
            assert await two.log.vm_known("vm-1")
            assert not await two.log.vm_known("vm-2")
        finally:
            await one.close()
            await two.close()

    async def test_the_log_survives_reopening(self, make_store: StoreFactory) -> None:
        first = await make_store()
        try:
            written = await append(first.log, MIXED)
        finally:
            await first.close()
        reopened = await make_store()
        try:
            assert (reopened.log.head, reopened.log.first_seq) == (len(MIXED), 1)
            assert await scan_all(reopened.log) == written
            more = await append(reopened.log, [new("vm-3", ev.HEARTBEAT, T0 + 50)])
            assert [e.seq for e in more] == [len(MIXED) + 1]
        finally:
            await reopened.close()

    async def test_a_read_only_store_reads_but_refuses_every_write(
        self, store: Store, make_store: StoreFactory
    ) -> None:
        written = await append(store.log, MIXED)
        reader = await make_store(read_only=True)
        try:
            assert reader.log.head == len(MIXED)
            assert await scan_all(reader.log) == written
            assert await reader.log.read(EventQuery(vm_id="vm-2")) == [
                written[i] for i in (1, 4, 5)
            ]
            with pytest.raises(StoreError):
                await append(reader.log, [new()])
            with pytest.raises(StoreError):
                await reader.snapshots.save(1, GENESIS_HASH, b"{}")
            with pytest.raises(StoreError):
                await reader.compaction.compact(1, GENESIS_HASH, b"{}")
            # What the writer appends later, with ids the reader has not seen, reads back too.
            later = await append(
                store.log, [new("vm-new", ev.REGISTERED, T0 + 60, {"a": 1}, {"x": 1})]
            )
            assert await reader.log.read(EventQuery(after=len(MIXED))) == later
            assert await reader.log.read(EventQuery(vm_id="vm-new")) == later
        finally:
            await reader.close()

    # -- following and leadership ----------------------------------------------------------

    async def test_heads_yield_the_head_and_then_every_move_by_anyone(
        self, make_store: StoreFactory
    ) -> None:
        writer = await make_store()
        follower = await make_store(read_only=True)
        try:
            await append(writer.log, MIXED[:1])
            changes = follower.log.heads()
            assert await asyncio.wait_for(anext(changes), 10) == 1
            await append(writer.log, MIXED[1:3])
            assert await asyncio.wait_for(anext(changes), 10) == 3
            assert follower.log.head == 3
            await changes.aclose()
        finally:
            await follower.close()
            await writer.close()

    async def test_only_one_lease_is_held_at_a_time(self, make_store: StoreFactory) -> None:
        one, two = await make_store(), await make_store()
        try:
            first, second = one.log.leadership(), two.log.leadership()
            assert not first.held
            assert await first.try_acquire()
            assert first.held
            assert await first.try_acquire()  # holding it already
            assert not await second.try_acquire()
            assert not second.held
            await first.release()
            assert not first.held
            assert await second.try_acquire()
            await second.release()
            await second.release()  # releasing twice is harmless
        finally:
            await one.close()
            await two.close()

    # -- snapshots and compaction ----------------------------------------------------------

    async def test_snapshots_are_saved_listed_read_replaced_and_deleted(self, store: Store) -> None:
        from vm_registry.persistence.errors import StoreCorrupt

        snaps = store.snapshots
        assert await snaps.infos() == []
        await snaps.save(2, b"c" * 32, b'{"two": 2}')
        await snaps.save(5, b"d" * 32, b'{"five": 5}' * 1000)
        infos = await snaps.infos()
        assert [(i.seq, i.chain) for i in infos] == [(5, b"d" * 32), (2, b"c" * 32)]
        assert await snaps.body(5) == b'{"five": 5}' * 1000
        await snaps.save(2, b"e" * 32, b'{"again": 2}')
        assert await snaps.body(2) == b'{"again": 2}'
        await snaps.delete([2])
        await snaps.delete([])
        assert [i.seq for i in await snaps.infos()] == [5]
        with pytest.raises(StoreCorrupt):
            await snaps.body(2)

    async def test_compaction_drops_history_and_the_chain_continues_from_the_cut(
        self, make_store: StoreFactory
    ) -> None:
        store, other = await make_store(), await make_store()
        try:
            await append(store.log, MIXED)
            chain = await store.log.hash_at(4)
            assert chain is not None
            await store.snapshots.save(2, b"x" * 32, b"{}")
            assert await store.compaction.compact(4, chain, b'{"at": 4}') == 4
            assert store.log.first_seq == 5
            assert await other.log.refresh_first_seq() == 5
            assert [e.seq for e in await scan_all(store.log)] == [5, 6]
            assert [i.seq for i in await store.snapshots.infos()] == [4]
            assert await store.compaction.compact(6, store.log.last_hash, b"{}") == 2
            assert await scan_all(store.log) == []
            last = store.log.last_hash
        finally:
            await store.close()
            await other.close()
        reopened = await make_store()
        try:
            assert (reopened.log.head, reopened.log.first_seq, reopened.log.last_hash) == (
                6,
                7,
                last,
            )
            assert [e.seq for e in await append(reopened.log, MIXED[:1])] == [7]
        finally:
            await reopened.close()

    async def test_compaction_records_the_time_of_the_event_at_the_cut(self, store: Store) -> None:
        assert await store.log.compacted_at() is None
        written = await append(store.log, MIXED)
        chain = await store.log.hash_at(4)
        assert chain is not None
        await store.compaction.compact(4, chain, b"{}")
        assert await store.log.compacted_at() == (4, written[3].at)

    async def test_compacting_an_empty_log_starts_it_at_the_cut(
        self, make_store: StoreFactory
    ) -> None:
        chain = b"\x07" * 32
        store = await make_store()
        try:
            await store.compaction.compact(40, chain, b'{"at": 40}', cut_at=T0 + 5)
            assert await store.log.compacted_at() == (40, T0 + 5)
            assert await store.log.refresh_first_seq() == 41
            async with store.log.locked() as tx:
                assert (tx.head, tx.last_hash) == (40, chain)
                await tx.append(as_events(41, MIXED[:2]))
            assert [e.seq for e in await scan_all(store.log)] == [41, 42]
        finally:
            await store.close()
        reopened = await make_store()
        try:
            assert (reopened.log.head, reopened.log.first_seq) == (42, 41)
            assert await reopened.snapshots.body(40) == b'{"at": 40}'
            expected = chain_hashes(as_events(41, MIXED[:2]), chain)
            assert reopened.log.last_hash == expected[-1]
        finally:
            await reopened.close()

    # -- size on disk (/metrics) -----------------------------------------------------------

    async def test_the_log_reports_its_bytes_on_disk_and_they_grow_with_writes(
        self, store: Store
    ) -> None:
        await store.measure_bytes()
        before = store.bytes_on_disk()
        assert before is not None and before > 0
        # Random text: neither backend can compress it away.
        bulky = {"blob": [os.urandom(500).hex() for _ in range(4)]}
        await append(store.log, [new(f"big-{n}", ev.UPDATED, data=bulky) for n in range(50)])
        await store.measure_bytes()
        after = store.bytes_on_disk()
        assert after is not None and after > before + 100_000

    # -- failures ---------------------------------------------------------------------------

    async def test_a_store_that_cannot_be_reached_is_unavailable(
        self, make_unreachable: StoreFactory
    ) -> None:
        from vm_registry.persistence.errors import StoreUnavailable

        with pytest.raises(StoreUnavailable):
            await make_unreachable()
        with pytest.raises(StoreUnavailable):
            await make_unreachable(read_only=True)

    async def test_an_unknown_type_code_is_reported_as_corrupt_with_its_seq(
        self, log: EventLog, raw_sql: RawSql
    ) -> None:
        from vm_registry.persistence.errors import StoreCorrupt

        await append(log, MIXED)
        await raw_sql("UPDATE events SET type = 99 WHERE seq = 3")
        with pytest.raises(StoreCorrupt) as caught:
            await scan_all(log)
        assert caught.value.seq == 3

    async def test_undecodable_data_is_reported_as_corrupt(
        self, log: EventLog, raw_sql: RawSql
    ) -> None:
        from vm_registry.persistence.errors import StoreCorrupt

        await append(log, MIXED)
        await raw_sql("UPDATE events SET data = NULL WHERE seq = 2")  # harmless: {} decodes
        await raw_sql("UPDATE events SET data = hash WHERE seq = 1")  # 32 bytes, not JSON
        with pytest.raises(StoreCorrupt):
            await log.read(EventQuery(limit=10))

    async def test_a_closed_store_is_unavailable(self, make_store: StoreFactory) -> None:
        from vm_registry.persistence.errors import StoreUnavailable

        store = await make_store()
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.log.read_after(0, 1)
        with pytest.raises(StoreUnavailable):
            await append(store.log, MIXED[:1])
        with pytest.raises(StoreUnavailable):
            await store.snapshots.infos()

    @settings(
        max_examples=40,
        deadline=None,
        # One store serves every example: each reads back only what it appended.
        # Each backend's class runs it: the same method from two executors, by design.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        batch=st.lists(
            st.tuples(
                st.sampled_from(ev.EVENT_TYPES),
                st.text(min_size=1, max_size=30),
                st.integers(0, 10_000),
                actors,
                json_objects,
            ),
            min_size=1,
            max_size=5,
        )
    )
    async def test_events_read_back_exactly_as_appended(
        self, log: EventLog, batch: list[tuple[str, str, int, dict[str, Any], dict[str, Any]]]
    ) -> None:
        head = log.head
        news = [
            new(vm_id, kind, T0 + delay, actor, data) for kind, vm_id, delay, actor, data in batch
        ]
        appended = await append(log, news)
        assert appended == as_events(head + 1, news)
        assert await log.read(EventQuery(after=head, limit=1000)) == appended
        assert await scan_all(log, after=head) == appended
