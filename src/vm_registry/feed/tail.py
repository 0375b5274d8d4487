"""The shared in-memory tail of recent events, and the wake-up signal for subscribers.

Instead of one queue of objects per subscriber, every subscriber reads a cursor into one bounded
tail (overflow policy: the oldest events fall off, and a subscriber whose cursor falls off
catches up from the log). Publishing a committed batch appends, then wakes each waiting
subscriber through its own waiter future, never awaiting any of them. A subscriber that
stops reading holds nothing but its cursor, so it can never slow the writer or the others.

Wake-ups are coalesced. Each one costs a resume and a socket write per subscriber, so with 1,000
subscribers and one event per group commit, waking per commit would mean 100,000 writes a second
at 100 events/s. The first commit after a quiet spell wakes everyone at once; commits that follow
within the coalescing window are delivered together at its end. The window grows with the number
of subscribers (`COALESCE_PER_SUBSCRIBER`, capped at `MAX_COALESCE`), so a handful of watchers
see no delay while a thousand get batches at most 60 ms late.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.feed import frames
from vm_registry.wire import render

COALESCE_PER_SUBSCRIBER = 60e-6  # seconds of window per subscriber
MAX_COALESCE = 0.06


# What a tail item costs besides its frame: the FeedItem, the event tuple without its data, and
# the actor dict it shares with nothing (an actor is a few short strings). Checked by
# tests/feed/test_tail_bytes.py against what the items really hold.
ITEM_OVERHEAD = 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_NO_DATA: dict[str, Any] = {}


class FeedItem:
    """An event as the feed sends it. The frame is encoded when the item is made, and the
    event's data and the entry are then let go: the tail holds bytes it can count, not object
    graphs whose size depends on their shape (a JSON array of empty objects takes 24 times its
    encoded size as Python objects). Filters need only the event's seq, type and VM."""

    __slots__ = ("event", "frame", "role")

    def __init__(self, event: Event, entry: Entry | None, role: str) -> None:
        payload = render.event(event)
        payload["vm"] = None if entry is None else render.entry(entry, entry.stale)
        self.frame = frames.message(event.type, payload, event.seq)
        self.event = event._replace(data=_NO_DATA)
        self.role = role

    @property
    def seq(self) -> int:
        return self.event.seq

    @property
    def size(self) -> int:
        return len(self.frame) + ITEM_OVERHEAD


class Tail:
    """Bounded by count and by bytes, whichever binds first (overflow policy: the oldest
    events fall off). A single item larger than the byte bound is not kept at all: its
    subscribers read it from the log, as any subscriber behind the tail does."""

    def __init__(self, capacity: int, head: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0  # sum of the items' sizes
        # Seqs in the tail are consecutive (every committed event is published, in order), so
        # a cursor maps to a position by arithmetic; reading from the right keeps the live
        # case, a short suffix, cheap.
        self._items: deque[FeedItem] = deque()
        self.head = head  # seq of the newest event published
        # One future per waiting subscriber: waking is one C-level `set_result` each, cheaper
        # than many waiters on one shared future through `asyncio.wait`.
        self._waiters: list[asyncio.Future[None]] = []
        self.coalesce = 0.0  # set by the broker from the number of subscribers
        self._quiet_until = 0.0
        self._wake_scheduled = False

    def append(self, items: Iterable[FeedItem]) -> None:
        for item in items:
            self._items.append(item)
            self.bytes += item.size
            self.head = item.seq
        while self._items and (len(self._items) > self.capacity or self.bytes > self.max_bytes):
            self.bytes -= self._items.popleft().size
        if self._wake_scheduled:
            return
        loop = asyncio.get_running_loop()
        delay = self._quiet_until - loop.time()
        if delay <= 0:
            self.wake()
            self._quiet_until = loop.time() + self.coalesce
        else:
            self._wake_scheduled = True
            loop.call_later(delay, self._deferred_wake)

    def _deferred_wake(self) -> None:
        self._wake_scheduled = False
        self.wake()
        self._quiet_until = asyncio.get_running_loop().time() + self.coalesce

    def set_subscribers(self, count: int) -> None:
        self.coalesce = min(MAX_COALESCE, count * COALESCE_PER_SUBSCRIBER)

    def wake(self) -> None:
        """Wake every waiting subscriber; those with nothing new simply wait again."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @property
    def first_seq(self) -> int:
        """Oldest seq the tail can serve; a cursor below `first_seq - 1` must read the log."""
        return self._items[0].seq if self._items else self.head + 1

    def covers(self, cursor: int) -> bool:
        return cursor >= self.first_seq - 1

    def after(self, cursor: int) -> list[FeedItem]:
        count = min(self.head - cursor, len(self._items))
        if count <= 0:
            return []
        suffix = list(islice(reversed(self._items), count))
        suffix.reverse()
        return suffix

    async def wait(self, cursor: int, timeout: float | None) -> None:
        """Return once the head moves past `cursor`, or after `timeout` seconds."""
        if self.head > cursor:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _settle, waiter)
        try:
            await waiter  # cancelling this task cancels only its own waiter
        finally:
            if timer is not None:
                timer.cancel()
            if not waiter.done():  # cancelled while waiting: don't leave it for wake()
                waiter.cancel()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
