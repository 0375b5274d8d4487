"""The tail is bounded by bytes as well as by count (issue #11, 1), and what it counts is what
its items hold: encoded frames, not the events' data, and the metadata only the tail keeps
alive (issue #24)."""

from __future__ import annotations

import gc
import tracemalloc

from vm_registry.domain.events import DEREGISTERED, HEARTBEAT, UPDATED, Event
from vm_registry.domain.model import Entry, JsonObject
from vm_registry.feed.sizes import held_size
from vm_registry.feed.tail import (
    FRAME,
    ITEM_OVERHEAD,
    SEQ,
    FeedItem,
    Tail,
    feed_item,
    item_size,
)


def update(seq: int, pad: int) -> FeedItem:
    actor = {"ip": "127.0.0.1", "userAgent": "python-httpx/0.28.1", "token": "ci", "scope": "agent"}
    data = {"metadata": {"a": [{} for _ in range(pad)]}}  # the worst shape as Python objects
    return feed_item(Event(seq, UPDATED, "vm-1", 1_000 + seq, dict(actor), data), None, "worker")


async def test_the_oldest_items_fall_off_once_the_bytes_are_spent() -> None:
    size = item_size(update(1, 100))
    tail = Tail(capacity=1000, head=0, max_bytes=10 * size + 100)  # seqs vary in length
    tail.append([update(seq, 100) for seq in range(1, 26)])
    assert tail.bytes <= 10 * size + 100
    assert [i[SEQ] for i in tail.after(0)] == list(range(16, 26))
    assert tail.covers(15) and not tail.covers(14)  # older cursors read the log


async def test_an_item_larger_than_the_bound_is_not_kept() -> None:
    tail = Tail(capacity=1000, head=0, max_bytes=1000)
    tail.append([update(1, 1000)])
    assert tail.head == 1 and tail.bytes == 0 and tail.after(0) == []
    assert tail.covers(1) and not tail.covers(0)


async def test_the_count_bound_still_holds() -> None:
    tail = Tail(capacity=5, head=0)
    tail.append([update(seq, 1) for seq in range(1, 9)])
    assert [i[SEQ] for i in tail.after(0)] == [4, 5, 6, 7, 8]
    assert tail.bytes == sum(item_size(i) for i in tail.after(0))


def test_an_items_size_covers_what_it_holds() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        items = [update(seq, 2000) for seq in range(1, 51)]
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= sum(item_size(item) for item in items)
    assert all(item_size(item) > ITEM_OVERHEAD for item in items)


def test_items_leave_the_cyclic_collector_once_collected() -> None:
    # Full collections walk every tracked object; at 100,000 VMs under registrations the
    # tail's items as objects were a third of that walk (docs/benchmarks.md, P4).
    items = [update(seq, 3) for seq in range(1, 6)]
    gc.collect()
    assert not any(gc.is_tracked(item) for item in items)


def entry(vm_id: str, metadata: JsonObject) -> Entry:
    return Entry(vm_id, vm_id, "worker", "running", "10.0.0.1", None, metadata, "ci", 1, 1, 1, 1)


def deregistration(seq: int) -> FeedItem:
    """A VM with metadata of its own leaves: its frame holds no metadata, but the item keeps
    the VM's last metadata (the worst shape, with a value of its own) as `before`."""
    metadata = {"a": [{} for _ in range(500)], "n": seq}
    event = Event(seq, DEREGISTERED, f"vm-{seq}", 1_000 + seq)
    return feed_item(event, None, "worker", entry(f"vm-{seq}", metadata))


def test_the_metadata_an_item_retires_counts_with_it() -> None:
    # Before, only the frames counted: 20,000 such items were charged 23 MB and held 750 MB.
    gc.collect()
    tracemalloc.start()
    try:
        items = [deregistration(seq) for seq in range(1, 51)]
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= sum(item_size(item) for item in items)


async def test_retired_metadata_spends_the_tails_bytes() -> None:
    size = item_size(deregistration(1))
    assert size > 10 * (len(deregistration(1)[FRAME]) + ITEM_OVERHEAD)
    tail = Tail(capacity=1000, head=0, max_bytes=10 * size + 100)
    tail.append([deregistration(seq) for seq in range(1, 26)])
    assert [i[SEQ] for i in tail.after(0)] == list(range(16, 26))


def test_metadata_still_current_costs_the_item_nothing() -> None:
    """The projection holds a VM's current metadata anyway; the item that replaces it is the
    one charged for it, once."""
    old, new = {"team": "a" * 10_000}, {"team": "b" * 10_000}
    current = entry("vm-1", old)
    beat = feed_item(Event(2, HEARTBEAT, "vm-1", 1_002), current, "worker", current)
    assert item_size(beat) == len(beat[FRAME]) + ITEM_OVERHEAD
    update = feed_item(Event(3, UPDATED, "vm-1", 1_003), entry("vm-1", new), "worker", current)
    assert item_size(update) == len(update[FRAME]) + ITEM_OVERHEAD + held_size(old)
    assert held_size(old) >= 10_000
