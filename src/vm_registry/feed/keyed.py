"""The tail's index of items by a metadata key's value, for watchers with a selector.

A selector with an equality term (`key=value`, `key==value`, `key in (a,b)`) can only show an
event whose VM held one of those values at that key before or after it (`FeedFilter.frame`
sends an event when the VM was in the set before it or is in it after). So for each key path
some watcher indexes by, every item is queued under the path's value in the VM's metadata
before the event and after it, and only the watchers registered under those (path, value)
pairs are woken: an event costs the watchers whose selectors could match it, and a lookup
per indexed path, not one wake-up per selector watcher.

A path is indexed while at least one watcher uses it. When it is first registered, the items
already in the tail are indexed for it, so its queues cover the tail from then on; what fell
off before (and, per value, what falls off later) is remembered as a seq, and a cursor behind
it replays from the log, as a `?vm=` watcher does (`covers`).
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Iterable

from vm_registry.domain.selectors import Path, lookup
from vm_registry.feed.tail import (
    AFTER,
    BEFORE,
    DROPPED_OVERHEAD,
    NO_ENTRY,
    SEQ,
    FeedItem,
    wait_settled,
)

Key = tuple[Path, str]
# The values remembered as dropped, over every path, are bounded in bytes: a value is
# client-chosen metadata, up to the entry limit long, and a note keeps it alive after its VM
# changed. Past the budget every path's notes are forgotten into its floor (never wrong, only
# cautious: a cursor behind the floor replays from the log), as the tail does for VM ids.
MAX_DROPPED_BYTES = 16 * 1024 * 1024


def item_keys(item: FeedItem, path: Path) -> set[str]:
    """The values at `path` in the VM's metadata before and after the event."""
    texts: set[str] = set()
    for metadata in (item[BEFORE], item[AFTER]):
        if metadata is not NO_ENTRY:
            text = lookup(metadata, path)[1]
            if text is not None:
                texts.add(text)
    return texts


class KeyIndex:
    def __init__(self) -> None:
        self._users: dict[Path, int] = {}
        self._items: dict[Key, deque[FeedItem]] = {}
        self._waiters: dict[Key, set[asyncio.Future[None]]] = {}
        self._dropped: dict[Path, dict[str, int]] = {}
        self._floor: dict[Path, int] = {}
        self._dropped_bytes = 0  # charged for every path's `_dropped`

    @property
    def indexing(self) -> bool:
        """Whether any path is indexed: if not, appending and dropping items changes nothing."""
        return bool(self._users)

    def register(self, path: Path, held: Iterable[FeedItem], first_seq: int) -> None:
        """One more watcher indexes by `path`; `held` is what the tail holds now, from
        `first_seq` on."""
        count = self._users.get(path, 0)
        self._users[path] = count + 1
        if count:
            return
        self._floor[path] = first_seq - 1
        self._dropped[path] = {}
        for item in held:
            for text in item_keys(item, path):
                self._items.setdefault((path, text), deque()).append(item)

    def unregister(self, path: Path) -> None:
        count = self._users[path] - 1
        if count:
            self._users[path] = count
            return
        self._dropped_bytes -= sum(map(_note_cost, self._dropped[path]))
        del self._users[path], self._floor[path], self._dropped[path]
        for key in [key for key in self._items if key[0] == path]:
            del self._items[key]

    def append(self, item: FeedItem, woken: list[Key]) -> None:
        for path in self._users:
            for text in item_keys(item, path):
                key = (path, text)
                self._items.setdefault(key, deque()).append(item)
                if key in self._waiters:
                    woken.append(key)

    def wake(self, keys: Iterable[Key]) -> None:
        for key in keys:
            for waiter in self._waiters.pop(key, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def drop(self, item: FeedItem) -> None:
        """`item`, the tail's oldest, fell off: it is the oldest of each of its queues."""
        for path in self._users:
            dropped = self._dropped[path]
            for text in item_keys(item, path):
                key = (path, text)
                queue = self._items.get(key)
                if queue and queue[0] is item:
                    queue.popleft()
                    if not queue:
                        del self._items[key]
                if text not in dropped:
                    cost = _note_cost(text)
                    if self._dropped_bytes + cost > MAX_DROPPED_BYTES:
                        self._forget_dropped()
                    if text not in dropped:  # a waited value's note outlives forgetting
                        self._dropped_bytes += cost
                dropped[text] = item[SEQ]

    def _forget_dropped(self) -> None:
        """Forget every path's notes into its floor, except those of the values a watcher is
        waiting on: forgetting must not send a watcher to the log for a value that lost
        nothing. A waiting watcher's cursor is only moved to the head when it wakes, every
        bookmark period, and the notes of a busy key are forgotten more often than that (under
        2,500 PATCHes of 30 KB values, every 530 drops): each time, every watcher of that key
        replayed the log since its last wake, thousands of events read in one chunk. A waited
        value with no note gets one at the floor it is forgotten from, which is what the
        floor said of it. The watchers' values are their selectors' (`MAX_CHARACTERS` each),
        so what is kept is bounded by the subscribers."""
        kept: dict[Path, dict[str, int]] = {path: {} for path in self._dropped}
        for path, text in self._waiters:
            if path in kept:
                kept[path][text] = self._dropped[path].get(text, self._floor[path])
        for path, dropped in self._dropped.items():
            if dropped:
                self._floor[path] = max(self._floor[path], *dropped.values())
            dropped.clear()
            dropped.update(kept[path])
        self._dropped_bytes = sum(map(_note_cost, (t for notes in kept.values() for t in notes)))

    def covers(self, path: Path, values: Iterable[str], cursor: int) -> bool:
        dropped, floor = self._dropped[path], self._floor[path]
        return all(dropped.get(value, floor) <= cursor for value in values)

    def after(self, path: Path, values: Iterable[str], cursor: int) -> list[FeedItem]:
        """The items after `cursor` under any of `values`, in seq order, each once."""
        found: dict[int, FeedItem] = {}
        for value in values:
            for item in reversed(self._items.get((path, value), ())):
                if item[SEQ] <= cursor:
                    break
                found[item[SEQ]] = item
        return [found[seq] for seq in sorted(found)]

    def has_after(self, path: Path, values: Iterable[str], cursor: int) -> bool:
        for value in values:
            queue = self._items.get((path, value))
            if queue and queue[-1][SEQ] > cursor:
                return True
        return False

    async def wait(
        self, path: Path, values: frozenset[str], cursor: int, timeout: float | None
    ) -> None:
        """Return once one of `values` has an item after `cursor`, or after `timeout`
        seconds, or when woken by `wake` (shutdown)."""
        if self.has_after(path, values, cursor):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = [(path, value) for value in values]
        for key in keys:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            await wait_settled(waiter, timeout)
        finally:
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[key]


def _note_cost(text: str) -> int:
    return sys.getsizeof(text) + DROPPED_OVERHEAD
