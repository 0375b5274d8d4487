"""Subscriptions to the change feed: replay from a resume point, then live, with no gap and no
duplicate.

A subscription registers its cursor *before* it reads anything, then only ever moves the cursor
forward by seq. Whatever it reads (the shared tail, or the log when the tail no longer reaches
back far enough) is cut at the cursor, so the hand-over from replay to live can neither lose nor
repeat an event, however many writes land meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

from vm_registry.domain.errors import Gone, Unavailable
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply
from vm_registry.domain.outcome import Outcome
from vm_registry.domain.selectors import Path
from vm_registry.feed import frames
from vm_registry.feed.filters import FeedFilter
from vm_registry.feed.keyed import Key, KeyIndex
from vm_registry.feed.tail import (
    DEFAULT_MAX_BYTES,
    SEQ,
    FeedItem,
    Tail,
    feed_item,
    published_item,
)
from vm_registry.feed.views import KeyValues, OneVm, View, WholeTail
from vm_registry.persistence.log import EventLog

StateAt = Callable[[int], Awaitable[State]]

log = logging.getLogger("vm_registry.feed")

# Frames are joined into writes of about this size: few sends when the feed is busy, and a
# subscriber that is far behind never holds more than one such write (plus a frame) at a time.
WRITE_SIZE = 256 * 1024
VM_BOOKMARKS_PER_PERIOD = 1_000


class Broker:
    def __init__(
        self,
        store: EventLog,
        state_at: StateAt,
        *,
        head: int,
        tail_capacity: int = 20_000,
        tail_bytes: int = DEFAULT_MAX_BYTES,
        max_subscribers: int = 1000,
    ) -> None:
        self.store = store
        self.state_at = state_at
        self.tail = Tail(tail_capacity, head, tail_bytes)
        self.max_subscribers = max_subscribers
        self.subscribers = 0
        # Plain counters, read by the metrics collector at scrape time (nothing on the hot path
        # but an integer add).
        self.frames_sent = self.catch_ups = self.refused = self.gone = 0
        # Watchers of one VM are woken through the tail's per-VM index, never all at once, so
        # only the others size the coalescing window.
        self.vm_watchers = 0
        # Watchers whose selector has an equality term are woken through this index by the
        # values their key held before and after each event (feed/keyed.py); they count with
        # the watchers of one VM.
        self.keys = KeyIndex()
        self.everything_watchers = 0  # with no filter at all: they read every frame

    def vm_bookmark_period(self, bookmark_after: float) -> float:
        """How long a watcher of one VM stays quiet before its bookmark. Every such watcher
        gets one per period while other VMs change, so with many of them the period stretches
        to keep their bookmarks together at `VM_BOOKMARKS_PER_PERIOD` per `bookmark_after`:
        otherwise ten thousand watchers would cost the server 2,000 writes a second for other
        VMs' events, and the CPU an event costs would grow with the watchers it does not
        concern."""
        return bookmark_after * max(1.0, self.vm_watchers / VM_BOOKMARKS_PER_PERIOD)

    def publish(self, outcomes: list[Outcome]) -> None:
        # Frames are rendered when first read (feed/pending.py), unless a watcher of everything
        # will read every one: then at once, which costs less than pending and then rendering.
        make = feed_item if self.everything_watchers else published_item
        items = [make(o.event, o.entry, o.role, o.before) for o in outcomes]
        keys = self.keys
        if not keys.indexing:  # no selector watcher: nothing to index, per event
            self.tail.append(items)
            return
        woken: list[Key] = []
        for item in items:
            keys.append(item, woken)
        self.tail.append(items)
        keys.wake(woken)

    def subscribe(self, cursor: int, feed_filter: FeedFilter) -> Subscription:
        if self.subscribers >= self.max_subscribers:
            self.refused += 1
            raise Unavailable(
                f"the change feed is at its limit of {self.max_subscribers} subscribers"
            )
        if cursor < self.store.first_seq - 1:
            self.gone += 1
            raise Gone(
                f"resume point {cursor} is older than the oldest event the log still holds "
                f"({self.store.first_seq}); list the registry again and watch from its revision"
            )
        self.subscribers += 1
        self.vm_watchers += _indexed(feed_filter)
        self.everything_watchers += feed_filter.shows_everything
        self.tail.set_subscribers(self.subscribers - self.vm_watchers)
        term = _key_term(feed_filter)
        if term is not None:
            tail = self.tail
            self.keys.register(term[0], tail.after(tail.first_seq - 1), tail.first_seq)
            tail.on_drop = self.keys.drop  # its queues follow the tail from now on
        return Subscription(self, cursor, feed_filter)

    def _release(self, feed_filter: FeedFilter) -> None:
        self.subscribers -= 1
        self.vm_watchers -= _indexed(feed_filter)
        self.everything_watchers -= feed_filter.shows_everything
        self.tail.set_subscribers(self.subscribers - self.vm_watchers)
        term = _key_term(feed_filter)
        if term is not None:
            self.keys.unregister(term[0])
            if not self.keys.indexing:
                self.tail.on_drop = None


def _key_term(feed_filter: FeedFilter) -> tuple[Path, frozenset[str]] | None:
    """The selector's indexed key and values, unless the watcher is indexed by its VM."""
    if feed_filter.vm_id is not None or feed_filter.selector is None:
        return None
    return feed_filter.selector.index_term()


def _indexed(feed_filter: FeedFilter) -> bool:
    return feed_filter.vm_id is not None or _key_term(feed_filter) is not None


def _view_of(broker: Broker, feed_filter: FeedFilter) -> View:
    period = broker.vm_bookmark_period
    if feed_filter.vm_id is not None:
        return OneVm(broker.tail, feed_filter.vm_id, period)
    term = _key_term(feed_filter)
    if term is not None:
        return KeyValues(broker.tail, broker.keys, *term, period)
    return WholeTail(broker.tail)


class Subscription:
    def __init__(self, broker: Broker, cursor: int, feed_filter: FeedFilter) -> None:
        self.broker = broker
        self.cursor = cursor
        self.filter = feed_filter
        self._closed = False
        self._stopping = False
        self.sent = cursor  # id of the last frame sent; behind the cursor when events were hidden
        self.view = _view_of(broker, feed_filter)

    def stop(self) -> None:
        """End `chunks()` at its next turn, as on server shutdown."""
        self._stopping = True
        self.view.wake()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.broker._release(self.filter)

    async def chunks(self, bookmark_after: float) -> AsyncIterator[bytes]:
        """SSE bytes for everything after the cursor, until stopped or cancelled.

        A bookmark is due when the cursor has moved past the last id sent (the filter hid the
        events since) and nothing was sent for the view's period; it never repeats an id. What
        the view reads, and what wakes it, is in feed/views.py.
        """
        tail, view = self.broker.tail, self.view
        last_sent = time.monotonic()
        live = False  # has read from the tail: a later replay means it fell behind
        try:
            while not self._stopping:
                if not view.covers(self.cursor):
                    if live and not view.indexed:
                        # Worth an operator's attention: a consumer too slow for the feed.
                        log.info(
                            "a subscriber fell %d events behind the live tail; "
                            "replaying from the log after seq %d",
                            tail.head - self.cursor,
                            self.cursor,
                        )
                    async for chunk in self._catch_up_to_tail():
                        last_sent = time.monotonic()
                        yield chunk
                    continue
                live = True
                head = tail.head
                items = view.after(self.cursor)
                for chunk in self._pack(items):
                    last_sent = time.monotonic()
                    yield chunk
                # An indexed view reads its own items only: what else the head passed is not
                # its to show. (The whole tail's items reach the head: a no-op there.)
                self.cursor = max(self.cursor, head)
                if items:
                    continue
                period = view.period(bookmark_after)
                if self.cursor > self.sent:
                    due = last_sent + period - time.monotonic()
                    if due <= 0:
                        self.sent = self.cursor
                        last_sent = time.monotonic()
                        yield frames.bookmark(self.cursor)
                        continue
                    await view.wait(self.cursor, due)
                else:
                    await view.wait(self.cursor, period if view.indexed else None)
        finally:
            self.close()

    def _pack(self, items: Iterable[FeedItem]) -> Iterator[bytes]:
        """The frames of the items the filter admits, joined into writes of about WRITE_SIZE
        bytes; the cursor follows each item as it is packed, `sent` each frame."""
        out: list[bytes] = []
        size = 0
        for item in items:
            seq = self.cursor = item[SEQ]
            frame = self.filter.frame(item)
            if frame is not None:
                out.append(frame)
                size += len(frame)
                self.sent = seq
                if size >= WRITE_SIZE:
                    self.broker.frames_sent += len(out)
                    yield b"".join(out)
                    out, size = [], 0
        if out:
            self.broker.frames_sent += len(out)
            yield b"".join(out)

    async def _catch_up_to_tail(self) -> AsyncIterator[bytes]:
        """Replay from the log up to where the tail starts, unless the broker stops first."""
        async for chunk in self._catch_up(self.broker.tail.first_seq - 1):
            yield chunk
            if self._stopping:
                return

    async def _catch_up(self, upto: int) -> AsyncIterator[bytes]:
        """Replay from the log up to `upto`, folding to know each VM after each event."""
        self.broker.catch_ups += 1
        # A private copy: the fold below moves it forward, and the state may be shared.
        state = (await self.broker.state_at(self.cursor)).copy()
        async for events in self.broker.store.scan(after=self.cursor, upto=upto):
            for chunk in self._pack(_replayed(state, events)):
                yield chunk


def _replayed(state: State, events: Iterable[Event]) -> Iterator[FeedItem]:
    """Each event with the entry right after it, as the writer published it."""
    for event in events:
        before = state.entries.get(event.vm_id)
        apply(state, event)
        after = state.entries.get(event.vm_id)
        owner = after if after is not None else before
        yield feed_item(event, after, owner.role if owner is not None else "", before)
