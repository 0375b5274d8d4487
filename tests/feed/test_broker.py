"""The broker, in process: whatever the interleaving of publishes, subscriptions, stalls,
disconnects and resumes, every watcher receives exactly the filtered suffix of the log from its
resume point, byte for byte, with nothing lost at the hand-over from the log to the live tail.

The log is a tiny in-memory store (`scan` and `first_seq` are all the broker reads). Its scan
yields between small chunks, so publishes land in the middle of a catch-up, as they can on the
real server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import VM_IDS, event_logs
from vm_registry.domain.errors import Gone, Unavailable
from vm_registry.domain.events import EVENT_TYPES, Event
from vm_registry.domain.fold import State, apply, fold
from vm_registry.domain.model import ROLES
from vm_registry.domain.outcome import Outcome
from vm_registry.domain.selectors import parse
from vm_registry.feed import broker as broker_module
from vm_registry.feed.broker import Broker, Subscription
from vm_registry.feed.filters import FeedFilter
from vm_registry.feed.keyed import item_keys
from vm_registry.feed.tail import SEQ, feed_item
from vm_registry.persistence.log import EventLog

SCAN_CHUNK = 3


class MemoryLog:
    """The part of the event store the broker uses."""

    def __init__(self, first_seq: int = 1) -> None:
        self.events: list[Event] = []
        self.first_seq = first_seq

    @property
    def head(self) -> int:
        return len(self.events)

    async def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        position = after
        limit = self.head if upto is None else upto
        while True:
            await asyncio.sleep(0)  # let writers in, as a real read would
            chunk = [e for e in self.events if position < e.seq <= limit][:SCAN_CHUNK]
            if not chunk:
                return
            yield chunk
            position = chunk[-1].seq

    async def state_at(self, seq: int) -> State:
        return fold(e for e in self.events if e.seq <= seq)


def make_broker(log: MemoryLog, *, tail: int, max_subscribers: int = 1000) -> Broker:
    return Broker(
        cast(EventLog, log),
        log.state_at,
        head=log.head,
        tail_capacity=tail,
        max_subscribers=max_subscribers,
    )


def outcomes_for(state: State, events: list[Event]) -> list[Outcome]:
    """What the writer publishes for a committed batch (and folds into `state`)."""
    out = []
    for event in events:
        before = state.entries.get(event.vm_id)
        apply(state, event)
        after = state.entries.get(event.vm_id)
        owner = after if after is not None else before
        assert owner is not None
        out.append(Outcome(event, after, owner.role, before))
    return out


def expected_frames(log: list[Event], after: int, feed_filter: FeedFilter) -> list[bytes]:
    state = State()
    frames = []
    for outcome in outcomes_for(state, log):
        item = feed_item(outcome.event, outcome.entry, outcome.role, outcome.before)
        frame = feed_filter.frame(item)
        if item[SEQ] > after and frame is not None:
            frames.append(frame)
    return frames


def split_frames(chunk: bytes) -> list[bytes]:
    assert chunk.endswith(b"\n\n")
    return [part + b"\n\n" for part in chunk[:-2].split(b"\n\n")]


def frame_id(frame: bytes) -> int:
    first = frame.split(b"\n", 1)[0]
    assert first.startswith(b"id: "), frame
    return int(first[4:])


def is_bookmark(frame: bytes) -> bool:
    return b"\nevent: bookmark\n" in frame


@dataclass
class Watcher:
    """A client: one chain of sessions, each resuming from the last id the previous one got."""

    start: int
    filter: FeedFilter
    frames: list[bytes] = field(default_factory=list)
    subscription: Subscription | None = None
    task: asyncio.Task[None] | None = None
    reading: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def events(self) -> list[bytes]:
        return [f for f in self.frames if not is_bookmark(f)]

    @property
    def resume_point(self) -> int:
        return frame_id(self.frames[-1]) if self.frames else self.start

    @property
    def connected(self) -> bool:
        return self.task is not None and not self.task.done()

    def connect(self, broker: Broker, bookmark_after: float) -> None:
        self.subscription = broker.subscribe(self.resume_point, self.filter)
        self.reading.set()
        self.task = asyncio.create_task(self._consume(self.subscription, bookmark_after))

    async def _consume(self, subscription: Subscription, bookmark_after: float) -> None:
        # sse-starlette closes the body iterator when the client goes away; so do we.
        async with contextlib.aclosing(subscription.chunks(bookmark_after)) as chunks:
            async for chunk in chunks:
                self.frames.extend(split_frames(chunk))
                await self.reading.wait()  # a stalled client: the generator stays suspended

    async def disconnect(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def behind(watcher: Watcher, log: list[Event], head: int) -> bool:
    """Whether the log up to `head` holds something this watcher has not read. A watcher of
    one VM is woken by its VM's events only: the others it skips without reading."""
    assert watcher.subscription is not None
    cursor = watcher.subscription.cursor
    if cursor >= head:
        return False
    vm_id = watcher.filter.vm_id
    selector = watcher.filter.selector
    term = None if vm_id is not None or selector is None else selector.index_term()
    if term is not None:
        # Nor is a watcher indexed by a key woken by events of VMs that held none of its
        # values there, before or after.
        path, values = term
        items = [
            feed_item(o.event, o.entry, o.role, o.before) for o in outcomes_for(State(), log[:head])
        ]
        return any(item_keys(item, path) & values for item in items[cursor:])
    return vm_id is None or any(e.vm_id == vm_id for e in log[cursor:head])


async def settle(watchers: list[Watcher], head: int, log: list[Event]) -> None:
    """Run the loop until every reading watcher has seen the head, and a little longer, so
    that what a quiet stream sends next (a bookmark) is sent too."""
    for _ in range(10_000):
        await asyncio.sleep(0)
        lagging = [
            w
            for w in watchers
            if w.connected
            and w.reading.is_set()
            and w.subscription is not None
            and behind(w, log, head)
        ]
        if not lagging:
            for _ in range(5):
                await asyncio.sleep(0)
            return
    raise AssertionError(f"watchers never caught up to {head}")


feed_filters = st.builds(
    FeedFilter,
    role=st.none() | st.sampled_from(ROLES[:3]),
    vm_id=st.none() | st.sampled_from(VM_IDS),
    types=st.none() | st.frozensets(st.sampled_from(EVENT_TYPES), min_size=1),
    # Generated metadata has short random keys: "" is common, so these select and deselect.
    # "0=" and "0 in (0,)" have an equality term, so their watchers read the key index.
    selector=st.none()
    | st.sampled_from(
        [parse("!0"), parse("0"), parse("0!=0"), parse("0="), parse("0 in (0,)"), parse("0=0,!1")]
    ),
)
actions = st.lists(
    st.sampled_from(["publish", "watch", "stall", "read", "disconnect", "reconnect", "settle"]),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=event_logs(max_commands=40),
    tail=st.integers(0, 6),
    bookmark_after=st.sampled_from([0.0, 3600.0]),
    write_size=st.sampled_from([1, 2_000, broker_module.WRITE_SIZE]),
    steps=actions,
    data=st.data(),
)
def test_every_watcher_gets_exactly_the_filtered_suffix_from_its_resume_point(
    log: list[Event],
    tail: int,
    bookmark_after: float,
    write_size: int,
    steps: list[str],
    data: st.DataObject,
) -> None:
    async def scenario() -> None:
        store = MemoryLog()
        state = State()
        broker = make_broker(store, tail=tail)
        watchers: list[Watcher] = []
        published = 0

        def publish(count: int) -> None:
            nonlocal published
            batch = log[published : published + count]
            published += len(batch)
            store.events.extend(batch)  # committed first, then published: as the writer does
            broker.publish(outcomes_for(state, batch))

        for step in steps:
            if step == "publish":
                publish(data.draw(st.integers(1, 5), label="batch size"))
            elif step == "watch":
                start = data.draw(st.integers(0, published), label="resume point")
                watcher = Watcher(start, data.draw(feed_filters, label="filter"))
                watcher.connect(broker, bookmark_after)
                watchers.append(watcher)
            elif step == "settle":
                await settle(watchers, published, store.events)
            elif watchers:
                watcher = data.draw(st.sampled_from(watchers), label="watcher")
                if step == "stall":
                    watcher.reading.clear()
                elif step == "read":
                    watcher.reading.set()
                elif step == "disconnect" and watcher.connected:
                    await watcher.disconnect()
                elif step == "reconnect" and not watcher.connected:
                    watcher.connect(broker, bookmark_after)
            await asyncio.sleep(0)
            assert broker.subscribers == sum(w.connected for w in watchers)

        publish(len(log))
        for watcher in watchers:
            watcher.reading.set()
        await settle(watchers, published, store.events)

        for watcher in watchers:
            expected = expected_frames(log, watcher.start, watcher.filter)
            if watcher.connected:
                assert watcher.events == expected
            else:  # it went away for good: what it got is a gap-free prefix
                assert watcher.events == expected[: len(watcher.events)]
            ids = [frame_id(f) for f in watcher.frames]
            assert ids == sorted(set(ids)), "ids go strictly up, bookmarks included"
            assert all(watcher.start < i <= published for i in ids)
            if bookmark_after > 0:
                assert not any(is_bookmark(f) for f in watcher.frames)

        for watcher in watchers:
            if watcher.connected:
                await watcher.disconnect()
        assert broker.subscribers == 0

    with patch.object(broker_module, "WRITE_SIZE", write_size):
        asyncio.run(scenario())


@settings(max_examples=50, deadline=None)
@given(log=event_logs(max_commands=30), tail=st.integers(0, 6), data=st.data())
def test_a_filtered_watcher_gets_a_bookmark_at_the_head_once_the_stream_is_quiet(
    log: list[Event], tail: int, data: st.DataObject
) -> None:
    watched = data.draw(st.sampled_from(VM_IDS), label="vm")
    feed_filter = FeedFilter(vm_id=watched)

    async def scenario() -> None:
        store = MemoryLog()
        broker = make_broker(store, tail=tail)
        watcher = Watcher(0, feed_filter)
        watcher.connect(broker, 0.0)
        store.events.extend(log)
        broker.publish(outcomes_for(State(), log))
        await settle([watcher], len(log), log)
        await asyncio.sleep(0)
        await watcher.disconnect()
        assert watcher.events == expected_frames(log, 0, feed_filter)
        hidden_at_end = bool(log) and log[-1].vm_id != watched
        # The last thing a quiet filtered stream says is where the head is.
        if hidden_at_end:
            assert is_bookmark(watcher.frames[-1])
            assert frame_id(watcher.frames[-1]) == len(log)
        else:
            assert not watcher.frames or not is_bookmark(watcher.frames[-1])

    asyncio.run(scenario())


async def test_past_the_cap_subscribing_is_refused_until_someone_leaves() -> None:
    broker = make_broker(MemoryLog(), tail=10, max_subscribers=2)
    first = broker.subscribe(0, FeedFilter())
    broker.subscribe(0, FeedFilter())
    with pytest.raises(Unavailable, match="limit of 2 subscribers"):
        broker.subscribe(0, FeedFilter())
    first.close()
    first.close()  # closing twice releases one slot, not two
    assert broker.subscribers == 1
    broker.subscribe(0, FeedFilter())
    assert broker.subscribers == 2


async def test_a_resume_point_older_than_the_log_is_refused_not_silently_skipped() -> None:
    broker = make_broker(MemoryLog(first_seq=50), tail=10)
    with pytest.raises(Gone, match="older than the oldest event"):
        broker.subscribe(10, FeedFilter())
    broker.subscribe(49, FeedFilter()).close()
    assert broker.subscribers == 0


async def test_a_watcher_of_a_quiet_vm_never_reads_the_log_however_far_the_head_moves() -> None:
    store = MemoryLog()
    broker = make_broker(store, tail=5)
    watcher = Watcher(0, FeedFilter(vm_id="vm-quiet"))
    watcher.connect(broker, 3600.0)
    await asyncio.sleep(0)
    scans = 0
    real_scan = store.scan

    def counting_scan(after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        nonlocal scans
        scans += 1
        return real_scan(after, upto)

    store.scan = counting_scan  # type: ignore[method-assign]
    state = State()
    for seq in range(1, 101):
        data = {"name": "n", "role": "worker", "address": "a", "registeredBy": "b"}
        event = Event(seq, "vm.registered", f"vm-{seq}", seq, {}, data)
        store.events.append(event)
        broker.publish(outcomes_for(state, [event]))
        await asyncio.sleep(0)
    assert scans == 0
    assert watcher.frames == []
    await watcher.disconnect()


def test_many_watchers_of_single_vms_share_a_bounded_bookmark_rate() -> None:
    broker = make_broker(MemoryLog(), tail=10, max_subscribers=20_000)
    for index in range(10):
        broker.subscribe(0, FeedFilter(vm_id=f"vm-{index}"))
    broker.subscribe(0, FeedFilter(role="worker"))
    assert broker.vm_bookmark_period(5.0) == 5.0
    for index in range(10, 10_000):
        broker.subscribe(0, FeedFilter(vm_id=f"vm-{index}"))
    # 10,000 watchers, each with one bookmark per 50 s: 1,000 per 5 s together.
    assert broker.vm_bookmark_period(5.0) == 50.0
