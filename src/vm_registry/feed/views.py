"""What a subscription reads, by how its watcher is indexed: the whole tail (`WholeTail`), one
VM's items (`OneVm`, `?vm=`), or the items under a selector's values (`KeyValues`, a selector
with an equality term: feed/keyed.py). `Subscription.chunks` (feed/broker.py) runs one loop over
any of them; they differ only in what covers a cursor, what is read after it, what wakes the
watcher, and how long it sleeps.

An indexed view reads its own items only, and only they wake it, so everything the head passed
without one of them is behind the cursor at once; it looks at the head once per bookmark
period even with nothing pending, since other VMs' events never wake it. The whole tail's view
reads every item up to the head, is woken by every publish, and can sleep until then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from vm_registry.domain.selectors import Path
from vm_registry.feed.keyed import KeyIndex
from vm_registry.feed.tail import FeedItem, Tail

Period = Callable[[float], float]  # bookmark_after -> how long a quiet watcher waits


class View(Protocol):
    indexed: bool

    def covers(self, cursor: int) -> bool:
        """Whether every event after `cursor` this view could show is still in the tail."""
        ...

    def after(self, cursor: int) -> Sequence[FeedItem]: ...

    async def wait(self, cursor: int, timeout: float | None) -> None:
        """Until something after `cursor` may be there to read, or `timeout` seconds."""
        ...

    def period(self, bookmark_after: float) -> float: ...

    def wake(self) -> None:
        """End a `wait` (shutdown)."""
        ...


class WholeTail:
    indexed = False

    def __init__(self, tail: Tail) -> None:
        self.tail = tail

    def covers(self, cursor: int) -> bool:
        return self.tail.covers(cursor)

    def after(self, cursor: int) -> Sequence[FeedItem]:
        return self.tail.after(cursor)

    async def wait(self, cursor: int, timeout: float | None) -> None:
        await self.tail.wait(cursor, timeout)

    def period(self, bookmark_after: float) -> float:
        return bookmark_after

    def wake(self) -> None:
        self.tail.wake()


class OneVm:
    indexed = True

    def __init__(self, tail: Tail, vm_id: str, period: Period) -> None:
        self.tail, self.vm_id, self._period = tail, vm_id, period

    def covers(self, cursor: int) -> bool:
        return self.tail.covers_vm(self.vm_id, cursor)

    def after(self, cursor: int) -> Sequence[FeedItem]:
        return self.tail.after_vm(self.vm_id, cursor)

    async def wait(self, cursor: int, timeout: float | None) -> None:
        await self.tail.wait_vm(self.vm_id, cursor, timeout)

    def period(self, bookmark_after: float) -> float:
        return self._period(bookmark_after)

    def wake(self) -> None:
        self.tail.wake_vm(self.vm_id)


class KeyValues:
    indexed = True

    def __init__(
        self, tail: Tail, keys: KeyIndex, path: Path, values: frozenset[str], period: Period
    ) -> None:
        self.tail, self.keys, self.path, self.values = tail, keys, path, values
        self._period = period

    def covers(self, cursor: int) -> bool:
        # The tail reaching back is enough; past it, the notes of what each value lost.
        return self.tail.covers(cursor) or self.keys.covers(self.path, self.values, cursor)

    def after(self, cursor: int) -> Sequence[FeedItem]:
        return self.keys.after(self.path, self.values, cursor)

    async def wait(self, cursor: int, timeout: float | None) -> None:
        await self.keys.wait(self.path, self.values, cursor, timeout)

    def period(self, bookmark_after: float) -> float:
        return self._period(bookmark_after)

    def wake(self) -> None:
        self.keys.wake((self.path, value) for value in self.values)
