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

Watchers of one VM (`?vm=`) are indexed by it, so an event costs only the watchers it
concerns: the tail keeps each VM's items in their own queue, and wakes a VM's watchers, at
once and uncoalesced, only when that VM has a new event. A watcher then reads its VM's
items, and moves its cursor to the head without looking at any other VM's. Ten thousand
watchers of one VM each cost the writer what one watcher costs. So that a watcher whose VM
is quiet never has to replay the log, the tail also remembers, per VM, the newest seq that
fell off (`covers_vm`): a cursor behind the tail is only stale if its VM lost something. What
came before the tail was made (the log at startup) counts as lost by every VM.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Final, Literal

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry, JsonObject
from vm_registry.feed import frames
from vm_registry.feed.pending import Pending
from vm_registry.feed.sizes import held_size
from vm_registry.wire import render

COALESCE_PER_SUBSCRIBER = 60e-6  # seconds of window per subscriber
MAX_COALESCE = 0.06
# Forgetting which seq each VM last lost keeps that map bounded in bytes (each VM charged its
# id and `DROPPED_OVERHEAD`: about 100,000 VMs with short ids, 14,000 with the longest); a VM
# forgotten counts as having lost everything up to the newest seq forgotten, which is never
# wrong, only cautious.
MAX_DROPPED_BYTES = 16 * 1024 * 1024
DROPPED_OVERHEAD = 100


# What a tail item costs besides its frame and the metadata it retires (below): the tuple and
# its small strings (the VM id and the role are shared with the entry), and for a pending frame
# (feed/pending.py) that object and the entry it holds. Checked by tests/feed/test_tail_bytes.py
# against what the items really hold.
ITEM_OVERHEAD = 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# An event as the feed sends it: (seq, type, VM id, role, frame, metadata before, metadata
# after). The frame is the encoded bytes, or for a published event what they are made of, until
# a watcher needs them (`Pending`, `frame_of`): the event's data and actor encoded, and the
# entry, which is immutable and whose parts the tail counts as it retires them. The rest of the
# event is let go: the tail holds bytes it can count, not object graphs whose size depends on
# their shape (a JSON array of empty objects takes 24 times its encoded size as Python
# objects). Filters need only the seq, type, VM and role, and a selector the VM's metadata
# before and after the event (`NO_ENTRY` where there was no entry: before a registration,
# after a deregistration).
#
# The metadata are the entries' own objects, not copies, and they are counted by the event that
# retires them. While a version is the VM's current metadata the projection holds it anyway, so
# an item that refers to it (as after, or as before and after of an event that left the
# metadata alone) adds nothing. Once an event replaces it (an update, a re-registration) or its
# VM goes (a deregistration, an expiry), only the tail keeps it alive, and that event is the
# one item that has it as `before` with a different `after`: that item is charged its objects
# (`held_size`), so each version is counted once, however many items refer to it, and for as
# long as the item charged for it is held (it is the newest of those that refer to it). The
# frames do not count it already: a frame holds an encoded copy, a separate object that can be
# 5.5 times smaller (docs/reliability.md, the entry limit), and a deregistration's frame holds
# no metadata at all: 20,000 deregistrations of VMs with distinct metadata at the entry limit
# (4,096 values) kept about 6 GB behind 23 MB of frames. The count is conservative in one
# case: a version shared with another VM's current entry (equal metadata are one object,
# domain/interning.py) is charged though that entry keeps it.
#
# A plain tuple on purpose, not a class or a NamedTuple: the cyclic garbage collector stops
# tracking a tuple of ints, strings and bytes once it has survived a collection (it does that
# for exact tuples only), so the rendered items of VMs without metadata (`None`, `NO_ENTRY`)
# cost the full collections nothing. An item that holds a metadata dict stays tracked, whatever
# the dict holds (the collector untracks a tuple only if no member is a container), and is
# walked with it; so does one with a `Pending` frame, with that object and its entry: two or
# three objects an item, not the object graphs of the events' data and actors, which were a
# third of what every full collection walked under a registration load at 100,000 VMs
# (docs/benchmarks.md, P4).
Metadata = JsonObject | None | Literal[False]
FeedItem = tuple[int, str, str, str, bytes | Pending, Metadata, Metadata]
SEQ: Final = 0
TYPE: Final = 1
VM_ID: Final = 2
ROLE: Final = 3
FRAME: Final = 4
BEFORE: Final = 5
AFTER: Final = 6
NO_ENTRY: Final = False


def feed_item(
    event: Event, entry: Entry | None, role: str, before: Entry | None = None
) -> FeedItem:
    payload = render.event(event)
    payload["vm"] = None if entry is None else render.entry(entry, entry.stale)
    frame = frames.message(event.type, payload, event.seq)
    return (
        event.seq,
        event.type,
        event.vm_id,
        role,
        frame,
        NO_ENTRY if before is None else before.metadata,
        NO_ENTRY if entry is None else entry.metadata,
    )


def published_item(event: Event, entry: Entry | None, role: str, before: Entry | None) -> FeedItem:
    """The item of a committed event, its frame rendered only when first read (`frame_of`)."""
    return (
        event.seq,
        event.type,
        event.vm_id,
        role,
        Pending(event, entry, before),
        NO_ENTRY if before is None else before.metadata,
        NO_ENTRY if entry is None else entry.metadata,
    )


def frame_of(item: FeedItem) -> bytes:
    frame = item[FRAME]
    if isinstance(frame, bytes):
        return frame
    return frame.render(item[SEQ], item[TYPE], item[VM_ID])


def item_size(item: FeedItem) -> int:
    """Bytes the item holds: its frame (for a pending one, what it is made of and retires:
    feed/pending.py), `ITEM_OVERHEAD`, and the metadata it retires."""
    frame = item[FRAME]
    if isinstance(frame, bytes):
        size = len(frame) + ITEM_OVERHEAD
    else:
        size = frame.size + ITEM_OVERHEAD + (0 if frame.frame is None else len(frame.frame))
    before = item[BEFORE]
    if before and before is not item[AFTER]:
        size += held_size(before)
    return size


class Tail:
    """Bounded by count and by bytes, whichever binds first (overflow policy: the oldest
    events fall off). A single item larger than the byte bound is not kept at all: its
    subscribers read it from the log, as any subscriber behind the tail does."""

    def __init__(self, capacity: int, head: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0  # sum of the items' sizes
        # Each item's size, charged once: `item_size` walks retired metadata, so it is not
        # computed again when the item falls off.
        self._sizes: deque[int] = deque()
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
        # The per-VM index: items, watchers, and the newest seq each VM lost to the capacity.
        # A VM with one item in the tail (every VM, under a registration load) maps to the item
        # itself, and gets a deque only from its second: a deque is one more object for every
        # full garbage collection to walk, and an item is none (see FeedItem).
        self._by_vm: dict[str, FeedItem | deque[FeedItem]] = {}
        self._vm_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._dropped: dict[str, int] = {}
        self._dropped_bytes = 0  # charged for `_dropped`
        # Newest seq of a VM forgotten from `_dropped`, and to begin with the head: the tail
        # starts empty, so every event up to it (before a restart, or before this replica
        # joined) is one it never held, for every VM.
        self._dropped_floor = head
        # Told of each item that falls off (the broker's index of selector watchers follows).
        self.on_drop: Callable[[FeedItem], None] | None = None

    def append(self, items: Iterable[FeedItem]) -> None:
        by_vm, vm_waiters = self._by_vm, self._vm_waiters
        woken: list[str] = []
        for item in items:
            size = item_size(item)
            frame = item[FRAME]
            if type(frame) is Pending and frame.frame is None:
                frame.tail = self  # its frame is charged when it is rendered
            self._items.append(item)
            self._sizes.append(size)
            self.bytes += size
            self.head = item[SEQ]
            vm_id = item[VM_ID]
            held = by_vm.get(vm_id)
            if held is None:
                by_vm[vm_id] = item
            elif isinstance(held, tuple):
                by_vm[vm_id] = deque((held, item))
            else:
                held.append(item)
            if vm_id in vm_waiters:
                woken.append(vm_id)
        self._trim()
        for vm_id in woken:
            for waiter in vm_waiters.pop(vm_id, ()):
                if not waiter.done():
                    waiter.set_result(None)
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

    def charge(self, size: int) -> None:
        """A held item's frame was rendered: `size` more bytes, and the bound to keep."""
        self.bytes += size
        if self.bytes > self.max_bytes:
            self._trim()

    def _trim(self) -> None:
        """The one way items leave the tail, oldest first, until it is within its bounds: the
        per-VM index must follow. Once the tail is full, every event published drops one, so
        this is the publish path: one loop with its names at hand, not a call per item."""
        items, sizes, by_vm, dropped = self._items, self._sizes, self._by_vm, self._dropped
        on_drop = self.on_drop
        while items and (len(items) > self.capacity or self.bytes > self.max_bytes):
            oldest = items.popleft()
            size = sizes.popleft()
            frame = oldest[FRAME]
            if type(frame) is Pending and frame.tail is self:
                frame.tail = None  # rendered later, it is no longer the tail's to count
                if frame.frame is not None:
                    size += len(frame.frame)
            self.bytes -= size
            vm_id = oldest[VM_ID]
            # A VM's oldest item is always the tail's oldest of that VM.
            held = by_vm.get(vm_id)
            if isinstance(held, tuple):
                del by_vm[vm_id]
            elif held is not None:
                held.popleft()
                if len(held) == 1:
                    by_vm[vm_id] = held[0]
            if vm_id in dropped:
                dropped[vm_id] = oldest[SEQ]
            else:
                self._note_dropped(vm_id, oldest[SEQ])
            if on_drop is not None:
                on_drop(oldest)

    def _note_dropped(self, vm_id: str, seq: int) -> None:
        """The first note of `vm_id` (`_dropped` keeps the same dict: `_trim` holds it)."""
        cost = sys.getsizeof(vm_id) + DROPPED_OVERHEAD
        if self._dropped_bytes + cost > MAX_DROPPED_BYTES and self._dropped:
            self._dropped_floor = max(self._dropped.values())
            self._dropped.clear()
            self._dropped_bytes = 0
        self._dropped_bytes += cost
        self._dropped[vm_id] = seq

    def _vm_items(self, vm_id: str) -> Sequence[FeedItem]:
        held = self._by_vm.get(vm_id)
        if held is None:
            return ()
        return (held,) if isinstance(held, tuple) else held

    def covers_vm(self, vm_id: str, cursor: int) -> bool:
        """Whether every event of `vm_id` after `cursor` is still in the tail."""
        return self._dropped.get(vm_id, self._dropped_floor) <= cursor

    def after_vm(self, vm_id: str, cursor: int) -> list[FeedItem]:
        queue = self._vm_items(vm_id)
        if not queue or queue[-1][SEQ] <= cursor:
            return []
        if queue[0][SEQ] > cursor:
            return list(queue)
        return [item for item in queue if item[SEQ] > cursor]

    async def wait_vm(self, vm_id: str, cursor: int, timeout: float | None) -> None:
        """Return once `vm_id` has an event after `cursor`, or after `timeout` seconds, or
        when `wake_vm` is called (shutdown)."""
        queue = self._vm_items(vm_id)
        if queue and queue[-1][SEQ] > cursor:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._vm_waiters.setdefault(vm_id, set())
        waiters.add(waiter)
        try:
            await wait_settled(waiter, timeout)
        finally:
            waiters.discard(waiter)
            if not waiters and self._vm_waiters.get(vm_id) is waiters:
                del self._vm_waiters[vm_id]

    def wake_vm(self, vm_id: str) -> None:
        for waiter in self._vm_waiters.pop(vm_id, ()):
            if not waiter.done():
                waiter.set_result(None)

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
        return self._items[0][SEQ] if self._items else self.head + 1

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
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await wait_settled(waiter, timeout)


async def wait_settled(waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Await `waiter`, at most `timeout` seconds; after, it is done or cancelled, so no waker
    is left holding it. Cancelling the awaiting task cancels only its own waiter."""
    loop = asyncio.get_running_loop()
    timer = None if timeout is None else loop.call_later(timeout, _settle, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        if not waiter.done():
            waiter.cancel()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
