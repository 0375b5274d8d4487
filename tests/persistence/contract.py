"""The contract every event-store backend honours, as one abstract test suite.

A backend's test module subclasses `EventStoreContract` and overrides `make_store`: a factory
that returns a new, unopened store on the same database every time it is called. Calling it
again is how the suite "reopens" the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import T0, actors, json_objects
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.persistence.store import (
    GENESIS_HASH,
    EventQuery,
    EventStore,
    NewEvent,
    StoreError,
)

StoreFactory = Callable[..., EventStore]  # (*, read_only: bool = False) -> unopened store


def new(
    vm_id: str = "vm-1",
    kind: str = ev.HEARTBEAT,
    at: int = T0,
    actor: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> NewEvent:
    return NewEvent(kind, vm_id, at, actor or {}, data or {})


def as_events(first_seq: int, batch: list[NewEvent]) -> list[Event]:
    return [
        Event(first_seq + i, item.type, item.vm_id, item.at, item.actor, item.data)
        for i, item in enumerate(batch)
    ]


async def scan_all(store: EventStore, after: int = 0, upto: int | None = None) -> list[Event]:
    found: list[Event] = []
    async for chunk in store.scan(after=after, upto=upto):
        assert chunk, "scan yields no empty chunks"
        found.extend(chunk)
    return found


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


class EventStoreContract:
    @pytest.fixture
    def make_store(self) -> StoreFactory:
        raise NotImplementedError("each backend says how to create its store")

    @pytest.fixture
    async def store(self, make_store: StoreFactory) -> AsyncIterator[EventStore]:
        opened = make_store()
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()

    async def test_an_empty_store_has_nothing(self, store: EventStore) -> None:
        assert store.head == 0
        assert store.first_seq == 1
        assert await store.read(EventQuery()) == []
        assert await scan_all(store) == []
        assert await store.seq_at_time(T0) == 0

    async def test_append_assigns_consecutive_seqs_and_returns_the_events(
        self, store: EventStore
    ) -> None:
        first = await store.append(MIXED[:2])
        assert first == as_events(1, MIXED[:2])
        assert store.head == 2
        second = await store.append(MIXED[2:])
        assert second == as_events(3, MIXED[2:])
        assert store.head == len(MIXED)
        assert await store.read(EventQuery(limit=1000)) == first + second

    async def test_appending_nothing_changes_nothing(self, store: EventStore) -> None:
        await store.append(MIXED[:1])
        assert await store.append([]) == []
        assert store.head == 1
        assert [e.seq for e in await store.read(EventQuery())] == [1]

    async def test_many_batches_leave_no_gaps(self, store: EventStore) -> None:
        for size in (1, 3, 1, 7, 2):
            await store.append([new(f"vm-{i}") for i in range(size)])
        seqs = [e.seq for e in await scan_all(store)]
        assert seqs == list(range(1, 15))
        assert store.head == 14

    async def test_read_after_and_limit_page_through_the_log(self, store: EventStore) -> None:
        await store.append([new(at=T0 + i) for i in range(10)])
        page = await store.read(EventQuery(after=3, limit=4))
        assert [e.seq for e in page] == [4, 5, 6, 7]
        assert await store.read(EventQuery(after=10)) == []
        assert [e.seq for e in await store.read(EventQuery(after=2, upto=5))] == [3, 4, 5]

    async def test_read_filters_by_vm_type_and_time(self, store: EventStore) -> None:
        await store.append(MIXED)
        by_vm = await store.read(EventQuery(vm_id="vm-2"))
        assert [e.seq for e in by_vm] == [2, 5, 6]
        assert await store.read(EventQuery(vm_id="never-seen")) == []
        by_type = await store.read(EventQuery(types=(ev.REGISTERED, ev.DEREGISTERED)))
        assert [e.seq for e in by_type] == [1, 2, 6]
        by_time = await store.read(EventQuery(since=T0 + 1, until=T0 + 9))
        assert [e.seq for e in by_time] == [2, 3, 4, 5]
        both = await store.read(EventQuery(vm_id="vm-1", types=(ev.UPDATED,)))
        assert [e.seq for e in both] == [4]

    async def test_scan_gives_every_event_in_order_within_bounds(self, store: EventStore) -> None:
        await store.append(MIXED)
        assert await scan_all(store) == as_events(1, MIXED)
        assert [e.seq for e in await scan_all(store, after=2)] == [3, 4, 5, 6]
        assert [e.seq for e in await scan_all(store, after=1, upto=4)] == [2, 3, 4]
        assert await scan_all(store, after=6) == []

    async def test_seq_at_time_finds_the_last_event_at_or_before(self, store: EventStore) -> None:
        await store.append([new(at=t) for t in (T0 + 10, T0 + 10, T0 + 20, T0 + 30)])
        assert await store.seq_at_time(T0) == 0
        assert await store.seq_at_time(T0 + 10) == 2
        assert await store.seq_at_time(T0 + 25) == 3
        assert await store.seq_at_time(T0 + 30) == 4
        assert await store.seq_at_time(T0 + 10**9) == 4

    async def test_the_log_survives_reopening(self, make_store: StoreFactory) -> None:
        first = make_store()
        await first.open()
        try:
            written = await first.append(MIXED)
        finally:
            await first.close()
        reopened = make_store()
        await reopened.open()
        try:
            assert reopened.head == len(MIXED)
            assert reopened.first_seq == 1
            assert await scan_all(reopened) == written
            more = await reopened.append([new("vm-3", ev.HEARTBEAT, T0 + 50)])
            assert [e.seq for e in more] == [len(MIXED) + 1]
            assert await reopened.seq_at_time(T0 + 20) == len(MIXED)
        finally:
            await reopened.close()

    async def test_the_chain_hash_moves_with_every_append_and_survives_reopening(
        self, make_store: StoreFactory
    ) -> None:
        store = make_store()
        await store.open()
        try:
            assert store.last_hash == GENESIS_HASH
            await store.append(MIXED[:1])
            after_one = store.last_hash
            await store.append(MIXED[1:])
            after_all = store.last_hash
            assert len({GENESIS_HASH, after_one, after_all}) == 3
        finally:
            await store.close()
        reopened = make_store()
        await reopened.open()
        try:
            assert reopened.last_hash == after_all
        finally:
            await reopened.close()

    async def test_a_read_only_store_reads_but_refuses_to_append(
        self, store: EventStore, make_store: StoreFactory
    ) -> None:
        written = await store.append(MIXED)
        reader = make_store(read_only=True)
        await reader.open()
        try:
            assert reader.head == len(MIXED)
            assert await scan_all(reader) == written
            assert await reader.read(EventQuery(vm_id="vm-2")) == [written[i] for i in (1, 4, 5)]
            with pytest.raises(StoreError):
                await reader.append([new()])
            # What the writer appends later, with ids the reader has not seen, reads back too.
            later = await store.append([new("vm-new", ev.REGISTERED, T0 + 60, {"a": 1}, {"x": 1})])
            assert await reader.read(EventQuery(after=len(MIXED))) == later
            assert await reader.read(EventQuery(vm_id="vm-new")) == later
        finally:
            await reader.close()
        assert await store.read(EventQuery(after=len(MIXED))) == later

    @settings(
        max_examples=40,
        deadline=None,
        # One store serves every example: each reads back only what it appended.
        suppress_health_check=[HealthCheck.function_scoped_fixture],
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
        self, store: EventStore, batch: list[tuple[str, str, int, dict[str, Any], dict[str, Any]]]
    ) -> None:
        head = store.head
        news = [
            new(vm_id, kind, T0 + delay, actor, data) for kind, vm_id, delay, actor, data in batch
        ]
        appended = await store.append(news)
        assert appended == as_events(head + 1, news)
        assert await store.read(EventQuery(after=head, limit=1000)) == appended
        assert await scan_all(store, after=head) == appended
