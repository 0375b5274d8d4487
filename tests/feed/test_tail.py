"""Wake-ups of the shared tail are coalesced: the first commit after a quiet spell is
delivered at once, and those that follow within the window arrive together at its end."""

from __future__ import annotations

import asyncio
import gc

import pytest

from vm_registry.domain.events import HEARTBEAT, Event
from vm_registry.feed import tail as tail_module
from vm_registry.feed.tail import MAX_COALESCE, SEQ, FeedItem, Tail, feed_item


def item(seq: int) -> FeedItem:
    return feed_item(Event(seq, HEARTBEAT, "vm-1", 1_000 + seq), None, "worker")


async def test_a_burst_wakes_once_at_once_then_once_at_the_end_of_the_window() -> None:
    tail = Tail(capacity=100, head=0)
    tail.set_subscribers(1000)  # a big audience: the window is at its cap
    first = asyncio.ensure_future(tail.wait(0, None))
    await asyncio.sleep(0)
    tail.append([item(1)])
    await asyncio.wait_for(first, timeout=1)  # the leading edge is not delayed

    second = asyncio.ensure_future(tail.wait(1, None))
    await asyncio.sleep(0)
    tail.append([item(2)])
    tail.append([item(3)])
    await asyncio.sleep(0)
    assert not second.done()  # held back, to be delivered with whatever else comes
    await asyncio.wait_for(second, timeout=MAX_COALESCE * 20)
    assert [i[SEQ] for i in tail.after(1)] == [2, 3]


async def test_with_few_subscribers_every_commit_wakes_at_once() -> None:
    tail = Tail(capacity=100, head=0)
    tail.set_subscribers(0)
    for seq in (1, 2, 3):
        waiter = asyncio.ensure_future(tail.wait(seq - 1, None))
        await asyncio.sleep(0)
        tail.append([item(seq)])
        await asyncio.sleep(0)
        assert waiter.done()


def vm_item(seq: int, vm_id: str) -> FeedItem:
    return feed_item(Event(seq, HEARTBEAT, vm_id, 1_000 + seq), None, "worker")


async def test_an_event_wakes_only_the_watchers_of_its_vm() -> None:
    tail = Tail(capacity=100, head=0)
    tail.set_subscribers(0)
    watchers = {
        vm_id: asyncio.ensure_future(tail.wait_vm(vm_id, 0, None))
        for vm_id in ("vm-a", "vm-b", "vm-c")
    }
    await asyncio.sleep(0)
    tail.append([vm_item(1, "vm-b")])
    await asyncio.sleep(0)
    assert {vm_id for vm_id, w in watchers.items() if w.done()} == {"vm-b"}
    tail.wake_vm("vm-a")  # shutdown wakes a watcher without an event
    tail.wake_vm("vm-c")
    await asyncio.gather(*watchers.values())


async def test_a_watcher_reads_only_its_vms_items() -> None:
    tail = Tail(capacity=100, head=0)
    tail.append([vm_item(seq, "vm-a" if seq % 10 == 0 else "vm-b") for seq in range(1, 51)])
    assert [i[SEQ] for i in tail.after_vm("vm-a", 0)] == [10, 20, 30, 40, 50]
    assert [i[SEQ] for i in tail.after_vm("vm-a", 25)] == [30, 40, 50]
    assert tail.after_vm("vm-a", 50) == []
    assert tail.after_vm("vm-quiet", 0) == []


async def test_a_quiet_vm_stays_covered_while_other_vms_events_fall_off() -> None:
    tail = Tail(capacity=3, head=0)
    tail.append([vm_item(1, "vm-a")])
    tail.append([vm_item(seq, "vm-b") for seq in range(2, 10)])
    assert not tail.covers(0)  # the shared tail no longer reaches back to seq 1...
    assert not tail.covers_vm("vm-a", 0)  # ...and vm-a's event fell off: replay the log
    assert tail.covers_vm("vm-a", 1)  # past it, nothing of vm-a was lost
    assert tail.covers_vm("vm-quiet", 0)  # a VM with no events lost none
    assert not tail.covers_vm("vm-b", 5)
    assert tail.covers_vm("vm-b", 6)
    assert [i[SEQ] for i in tail.after_vm("vm-b", 6)] == [7, 8, 9]


async def test_a_tail_made_at_a_head_covers_no_vm_before_it() -> None:
    # Issue #25, item 12: made at startup, the tail never held the log before its head.
    tail = Tail(capacity=3, head=10)
    assert not tail.covers_vm("vm-a", 0) and not tail.covers_vm("vm-a", 9)
    assert tail.covers_vm("vm-a", 10)
    tail.append([vm_item(11, "vm-a")])
    assert not tail.covers_vm("vm-quiet", 3) and tail.covers_vm("vm-quiet", 10)


async def test_a_vms_items_are_read_right_as_it_gains_and_loses_them() -> None:
    tail = Tail(capacity=3, head=0)
    tail.append([vm_item(1, "vm-a"), vm_item(2, "vm-b")])
    assert [i[SEQ] for i in tail.after_vm("vm-a", 0)] == [1]
    tail.append([vm_item(3, "vm-a")])  # vm-a's second item
    assert [i[SEQ] for i in tail.after_vm("vm-a", 0)] == [1, 3]
    assert [i[SEQ] for i in tail.after_vm("vm-a", 1)] == [3]
    tail.append([vm_item(4, "vm-c")])  # seq 1 falls off: vm-a is back to one item
    assert [i[SEQ] for i in tail.after_vm("vm-a", 1)] == [3]
    assert not tail.covers_vm("vm-a", 0) and tail.covers_vm("vm-a", 1)
    tail.append([vm_item(5, "vm-c"), vm_item(6, "vm-c")])  # vm-a's last item falls off
    assert tail.after_vm("vm-a", 0) == [] and tail.covers_vm("vm-a", 3)
    assert [i[SEQ] for i in tail.after_vm("vm-c", 0)] == [4, 5, 6]
    waiter = asyncio.ensure_future(tail.wait_vm("vm-c", 5, None))
    await asyncio.sleep(0)
    assert waiter.done()  # seq 6 is already there


async def test_a_vm_with_one_item_in_the_tail_costs_the_collector_nothing() -> None:
    # Under registrations every event is a new VM's: the per-VM index must not add a tracked
    # object per event for full garbage collections to walk (docs/benchmarks.md, P4).
    tail = Tail(capacity=20_000, head=0)
    tail.append([vm_item(seq, f"vm-{seq}") for seq in range(1, 1001)])
    tail.append([vm_item(1001, "vm-1")])
    gc.collect()
    tracked = [vm_id for vm_id, held in tail._by_vm.items() if gc.is_tracked(held)]
    assert tracked == ["vm-1"]  # only the VM with two items has a container of its own


async def test_the_note_of_what_each_vm_lost_is_bounded_in_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tail_module, "MAX_DROPPED_BYTES", 64 * 1024)
    tail = Tail(capacity=1, head=0)
    ids = [f"{n:04d}" + "\U0001f600" * 250 for n in range(200)]  # 1.1 KB each as a str
    for seq, vm_id in enumerate(ids, start=1):
        tail.append([vm_item(seq, vm_id)])
    # About 55 of the longest ids fit in 64 KiB, so the note was forgotten, more than once...
    assert len(tail._dropped) < 64 * 1024 // 1_000
    # ...and a VM forgotten counts as having lost everything up to the newest seq forgotten:
    # cautious (its watcher reads the log), never wrong.
    assert not tail.covers_vm(ids[0], 1)
    assert tail.covers_vm(ids[0], 199)
