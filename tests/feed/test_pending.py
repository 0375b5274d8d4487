"""Published frames are rendered when first read (feed/pending.py): the same bytes as rendering at
once, and a tail whose byte bound still covers what its items hold, rendered or not."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from tests.feed.test_broker import MemoryLog, make_broker, outcomes_for
from vm_registry.domain.events import (
    DEREGISTERED,
    HEALTH,
    HEARTBEAT,
    REGISTERED,
    STALE,
    UPDATED,
    Event,
)
from vm_registry.domain.fold import State, apply, touched
from vm_registry.domain.model import Entry
from vm_registry.feed.filters import FeedFilter
from vm_registry.feed.tail import (
    FRAME,
    SEQ,
    FeedItem,
    Tail,
    feed_item,
    frame_of,
    item_size,
    published_item,
)

T0 = 1_795_000_000_000
ACTOR = {"ip": "10.1.2.3", "userAgent": 'agent/1 "quoted" é 🚀', "token": "ci", "scope": "agent"}


def services(tag: str, count: int) -> list[dict[str, Any]]:
    return [{"name": f"{tag}-{n}", "port": 8000 + n, "healthPath": "/h"} for n in range(count)]


def entry(vm_id: str, seq: int, **fields: Any) -> Entry:
    base = Entry(vm_id, f"name of {vm_id}", "worker", "running", "10.0.0.1", None, None, "ci",
                 T0, T0 + seq, seq, 1)  # fmt: skip
    return base.replace(**fields) if fields else base


def history(vm_id: str, pad: int) -> list[tuple[Event, Entry | None, Entry | None]]:
    """Every kind of event one VM can have, each with its entry after and before."""
    first = entry(vm_id, 1, services=services("a", pad), metadata={"team": "a", "n": [1, 2.5]})
    data = {"name": first.name, "services": first.services, "metadata": first.metadata}
    steps: list[tuple[Event, Entry | None, Entry | None]] = [
        (Event(1, REGISTERED, vm_id, T0 + 1, dict(ACTOR), data), first, None)
    ]
    current = first
    for seq in range(2, 5):
        after = touched(current, T0 + seq * 1001, seq)
        steps.append((Event(seq, HEARTBEAT, vm_id, T0 + seq * 1001, dict(ACTOR)), after, current))
        current = after
    changes: list[tuple[str, dict[str, Any]]] = [
        (UPDATED, {"services": services("b", pad), "metadata": {"team": "b"}, "name": "renamed"}),
        (HEALTH, {"health": {"b-0": "critical"}}),
        (STALE, {"stale": True}),
    ]
    for seq, (kind, fields) in enumerate(changes, start=5):
        after = current.replace(revision=seq, **fields)
        event_data = {k: v for k, v in fields.items() if k != "stale"}
        steps.append((Event(seq, kind, vm_id, T0 + seq, dict(ACTOR), event_data), after, current))
        current = after
    steps.append((Event(8, DEREGISTERED, vm_id, T0 + 8, dict(ACTOR)), None, current))
    return steps


def test_a_frame_rendered_late_is_the_frame_rendered_at_once() -> None:
    steps = history("vm-1", 3)
    late = [published_item(e, after, "worker", before) for e, after, before in steps]
    for (event, after, before), item in zip(steps, late, strict=True):
        assert frame_of(item) == feed_item(event, after, "worker", before)[FRAME]
        assert frame_of(item) is frame_of(item)  # rendered once


def test_a_frame_not_yet_rendered_is_charged_what_it_holds_and_retires() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        items = [
            published_item(e, after, "worker", before)
            for n in range(20)
            for e, after, before in history(f"vm-{n}", 200)
        ]
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Every entry was retired (the VMs are gone): nothing here is the projection's.
    assert held <= sum(item_size(item) for item in items)


async def test_a_tail_of_frames_rendered_or_not_holds_what_it_counts() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        tail = Tail(capacity=10_000, head=0, max_bytes=1 << 40)
        for n in range(20):
            tail.append([published_item(e, a, "worker", b) for e, a, b in history(f"vm-{n}", 200)])
        for item in tail.after(0)[::2]:
            frame_of(item)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= tail.bytes


def beats(first: int, count: int) -> list[FeedItem]:
    current = entry("vm-1", 0)
    items = []
    for seq in range(first, first + count):
        after = touched(current, T0 + seq, seq)
        event = Event(seq, HEARTBEAT, "vm-1", T0 + seq, dict(ACTOR))
        items.append(published_item(event, after, "w", current))
        current = after
    return items


async def test_rendering_a_held_frame_spends_the_tails_bytes() -> None:
    tail = Tail(capacity=1000, head=0, max_bytes=10**9)
    tail.append(beats(1, 10))
    unread = tail.bytes
    frames = [frame_of(item) for item in tail.after(0)]
    assert tail.bytes == unread + sum(map(len, frames))
    # Bound to what the items now hold, the tail keeps its newest that fit.
    tail.max_bytes = tail.bytes - 1
    frame_of(beats(11, 1)[0])  # an item the tail never held changes nothing
    tail.append(beats(11, 1))
    assert tail.after(0)[0][SEQ] > 1 and tail.bytes <= tail.max_bytes


async def test_a_frame_rendered_after_it_fell_off_is_not_charged() -> None:
    tail = Tail(capacity=3, head=0, max_bytes=10**9)
    items = beats(1, 6)
    tail.append(items)
    held = tail.bytes
    frame_of(items[0])  # a slow reader still sending what fell off
    assert tail.bytes == held == sum(item_size(item) for item in items[3:])


async def test_rendering_past_the_bound_drops_the_oldest() -> None:
    items = beats(1, 10)
    tail = Tail(capacity=1000, head=0, max_bytes=sum(map(item_size, items)) + 1)
    tail.append(items)
    assert [item[SEQ] for item in tail.after(0)] == list(range(1, 11))
    for item in tail.after(0)[5:]:
        frame_of(item)
    assert tail.bytes <= tail.max_bytes
    assert tail.after(0)[-1][SEQ] == 10 and tail.after(0)[0][SEQ] > 1


def test_what_a_heartbeat_holds_unrendered_is_counted_to_the_byte_of_its_buffers() -> None:
    # orjson's result keeps its whole write buffer (4 KiB for an actor of 80 bytes): kept as
    # it came, 20,000 heartbeats held 80 MB the tail did not count.
    gc.collect()
    tracemalloc.start()
    try:
        items = beats(1, 200)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= sum(item_size(item) for item in items)


def test_a_large_value_unrendered_is_counted_to_the_byte_of_its_buffers() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        data = {"metadata": {"pad": "x" * 900_000}}
        items = [
            published_item(Event(seq, UPDATED, "vm-1", T0, dict(ACTOR), data), None, "w", None)
            for seq in range(1, 6)
        ]
        del data
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= sum(item_size(item) for item in items)


def test_what_the_fold_does_later_does_not_change_an_unread_frame() -> None:
    # Rendering late relies on entries being immutable (domain/model.py): a fold that changed
    # an entry in place (a heartbeat's lastSeen, say) would change frames not yet read.
    state = State()
    registration = {"name": "a", "role": "worker", "address": "10.0.0.1", "registeredBy": "ci"}
    log = [Event(1, REGISTERED, "vm-1", T0, dict(ACTOR), registration)]
    log += [Event(seq, HEARTBEAT, "vm-1", T0 + seq * 1000, dict(ACTOR)) for seq in range(2, 6)]
    log += [Event(6, UPDATED, "vm-1", T0 + 6000, {}, {"metadata": {"team": "b"}})]
    log += [Event(7, STALE, "vm-1", T0 + 7000), Event(8, HEARTBEAT, "vm-1", T0 + 8000)]
    late, at_once = [], []
    for event in log:
        before = state.entries.get(event.vm_id)
        apply(state, event)
        after = state.entries.get(event.vm_id)
        late.append(published_item(event, after, "worker", before))
        at_once.append(feed_item(event, after, "worker", before)[FRAME])
    assert [frame_of(item) for item in late] == at_once


def test_every_part_of_an_entry_an_event_replaces_is_charged_to_it() -> None:
    # A new field on Entry must be counted (or named here as within ITEM_OVERHEAD).
    within_overhead = {"metadata", "registered_at", "last_seen", "revision", "created_seq", "stale"}
    before = entry("vm-1", 1, services=services("a", 3), health={"a-0": "passing"}, owner="ci")
    beat = Event(2, HEARTBEAT, "vm-1", T0 + 2)
    touched_size = item_size(published_item(beat, touched(before, T0 + 2, 2), "w", before))
    for name in sorted(set(Entry.__slots__) - within_overhead):
        value = getattr(before, name)
        fresh = [dict(s) for s in value] if isinstance(value, list) else value
        fresh = dict(fresh) if isinstance(fresh, dict) else fresh
        fresh = "".join(["x", fresh])[1:] if isinstance(fresh, str) else fresh  # a new object
        assert fresh is not value and fresh == value, name
        changed = before.replace(**{name: fresh}, revision=2)
        event = Event(2, UPDATED, "vm-1", T0 + 2)
        assert item_size(published_item(event, changed, "w", before)) > touched_size, name


async def test_frames_are_rendered_at_once_while_someone_watches_everything() -> None:
    # Such a watcher reads every frame: pending, then rendering, would cost more.
    log = MemoryLog()
    broker = make_broker(log, tail=100)
    state = State()

    def publish(count: int) -> list[FeedItem]:
        first = log.head + 1
        events = [Event(seq, HEARTBEAT, "vm-1", T0 + seq) for seq in range(first, first + count)]
        if first == 1:
            registration = {"name": "a", "role": "worker", "address": "a", "registeredBy": "ci"}
            events[0] = Event(1, REGISTERED, "vm-1", T0, {}, registration)
        log.events += events
        broker.publish(outcomes_for(state, events))
        return broker.tail.after(first - 1)

    filtered = broker.subscribe(0, FeedFilter(role="worker"))
    assert not any(isinstance(item[FRAME], bytes) for item in publish(3))
    everything = broker.subscribe(0, FeedFilter())
    assert all(isinstance(item[FRAME], bytes) for item in publish(3))
    everything.close()
    assert not any(isinstance(item[FRAME], bytes) for item in publish(3))
    filtered.close()
