"""Subscriptions to the change feed: replay from a resume point, then live, with no gap and no
duplicate.

A subscription registers its cursor *before* it reads anything, then only ever moves the cursor
forward by seq. Whatever it reads (the shared tail, or the log when the tail no longer reaches
back far enough) is cut at the cursor, so the hand-over from replay to live can neither lose nor
repeat an event, however many writes land meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from vm_registry.domain.errors import Gone, Unavailable
from vm_registry.domain.fold import State, apply
from vm_registry.feed import frames
from vm_registry.feed.filters import FeedFilter
from vm_registry.feed.tail import FeedItem, Tail
from vm_registry.persistence.store import EventStore
from vm_registry.service.writer import Outcome

StateAt = Callable[[int], Awaitable[State]]


class Broker:
    def __init__(
        self,
        store: EventStore,
        state_at: StateAt,
        *,
        head: int,
        tail_capacity: int = 20_000,
        max_subscribers: int = 1000,
    ) -> None:
        self.store = store
        self.state_at = state_at
        self.tail = Tail(tail_capacity, head)
        self.max_subscribers = max_subscribers
        self.subscribers = 0

    def publish(self, outcomes: list[Outcome]) -> None:
        self.tail.append(FeedItem(o.event, o.entry, o.role) for o in outcomes)

    def subscribe(self, cursor: int, feed_filter: FeedFilter) -> Subscription:
        if self.subscribers >= self.max_subscribers:
            raise Unavailable(
                f"the change feed is at its limit of {self.max_subscribers} subscribers"
            )
        if cursor < self.store.first_seq - 1:
            raise Gone(
                f"resume point {cursor} is older than the oldest event the log still holds "
                f"({self.store.first_seq}); list the registry again and watch from its revision"
            )
        self.subscribers += 1
        return Subscription(self, cursor, feed_filter)

    def _release(self) -> None:
        self.subscribers -= 1


class Subscription:
    def __init__(self, broker: Broker, cursor: int, feed_filter: FeedFilter) -> None:
        self.broker = broker
        self.cursor = cursor
        self.filter = feed_filter
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.broker._release()

    async def chunks(self, bookmark_after: float) -> AsyncIterator[bytes]:
        """SSE bytes for everything after the cursor, forever; each chunk is a batch."""
        tail = self.broker.tail
        hidden = False  # events were filtered out since the last frame sent
        last_sent = time.monotonic()
        try:
            while True:
                if not tail.covers(self.cursor):
                    async for chunk in self._catch_up(tail.first_seq - 1):
                        last_sent = time.monotonic()
                        hidden = False
                        yield chunk
                    hidden = self.filter.narrows
                    continue
                items = tail.after(self.cursor)
                if items:
                    out = [item.frame for item in items if self.filter.admits(item)]
                    self.cursor = items[-1].seq
                    if out:
                        hidden = len(out) < len(items)
                        last_sent = time.monotonic()
                        yield b"".join(out)
                    else:
                        hidden = True
                    continue
                if hidden:
                    due = last_sent + bookmark_after - time.monotonic()
                    if due <= 0:
                        hidden = False
                        last_sent = time.monotonic()
                        yield frames.bookmark(self.cursor)
                        continue
                    await tail.wait(self.cursor, due)
                else:
                    await tail.wait(self.cursor, None)
        finally:
            self.close()

    async def _catch_up(self, upto: int) -> AsyncIterator[bytes]:
        """Replay from the log up to `upto`, folding to know each VM after each event."""
        state = await self.broker.state_at(self.cursor)
        async for events in self.broker.store.scan(after=self.cursor, upto=upto):
            out: list[bytes] = []
            for event in events:
                before = state.entries.get(event.vm_id)
                apply(state, event)
                after = state.entries.get(event.vm_id)
                owner = after if after is not None else before
                item = FeedItem(event, after, owner.role if owner is not None else "")
                if self.filter.admits(item):
                    out.append(item.frame)
            self.cursor = events[-1].seq
            if out:
                yield b"".join(out)
