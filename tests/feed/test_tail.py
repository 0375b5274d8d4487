"""Wake-ups of the shared tail are coalesced: the first commit after a quiet spell is
delivered at once, and those that follow within the window arrive together at its end."""

from __future__ import annotations

import asyncio

from vm_registry.domain.events import HEARTBEAT, Event
from vm_registry.feed.tail import MAX_COALESCE, FeedItem, Tail


def item(seq: int) -> FeedItem:
    return FeedItem(Event(seq, HEARTBEAT, "vm-1", 1_000 + seq), None, "worker")


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
    assert [i.seq for i in tail.after(1)] == [2, 3]


async def test_with_few_subscribers_every_commit_wakes_at_once() -> None:
    tail = Tail(capacity=100, head=0)
    tail.set_subscribers(0)
    for seq in (1, 2, 3):
        waiter = asyncio.ensure_future(tail.wait(seq - 1, None))
        await asyncio.sleep(0)
        tail.append([item(seq)])
        await asyncio.sleep(0)
        assert waiter.done()
