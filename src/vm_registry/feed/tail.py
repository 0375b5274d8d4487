"""The shared in-memory tail of recent events, and the wake-up signal for subscribers.

Instead of one queue of objects per subscriber, every subscriber reads a cursor into one bounded
tail (overflow policy: the oldest events fall off, and a subscriber whose cursor falls off
catches up from the log). Publishing a committed batch is O(1) in the number of subscribers: it
appends, then resolves one shared future that every waiting subscriber awaits. A subscriber that
stops reading holds nothing but its cursor, so it can never slow the writer or the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from vm_registry.api import wire
from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.feed import frames


@dataclass(slots=True)
class FeedItem:
    event: Event
    entry: Entry | None  # the entry right after the event
    role: str
    _frame: bytes | None = field(default=None, repr=False)

    @property
    def seq(self) -> int:
        return self.event.seq

    @property
    def frame(self) -> bytes:
        # Encoded lazily, once, then shared by every subscriber.
        if self._frame is None:
            payload = self.event.to_wire()
            entry = self.entry
            payload["vm"] = None if entry is None else wire.entry(entry, entry.stale)
            self._frame = frames.message(self.event.type, payload, self.event.seq)
        return self._frame


class Tail:
    def __init__(self, capacity: int, head: int) -> None:
        self.capacity = capacity
        # Seqs in the tail are consecutive (every committed event is published, in order), so
        # a cursor maps to a position by arithmetic; reading from the right keeps the live
        # case, a short suffix, cheap.
        self._items: deque[FeedItem] = deque(maxlen=capacity)
        self.head = head  # seq of the newest event published
        self._changed: asyncio.Future[None] | None = None

    def append(self, items: Iterable[FeedItem]) -> None:
        for item in items:
            self._items.append(item)
            self.head = item.seq
        self.wake()

    def wake(self) -> None:
        """Wake every waiting subscriber; those with nothing new simply wait again."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

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
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        # asyncio.wait never cancels the shared future on timeout, unlike wait_for.
        await asyncio.wait({self._changed}, timeout=timeout)
