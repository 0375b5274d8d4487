"""What a subscriber asked to see. The snapshot honours `role`, `vm` and `selector`; events
all four.

A selector makes the feed follow a *set*: an event is sent when its VM was in the set before
it or is in it after (`frame`). A VM that leaves the set without being deregistered (a PATCH
of its metadata, say) is sent its `vm.updated` frame marked `"left": true`, so a watcher can
tell "no longer mine" from "gone" (docs/feed.md). Whether the VM was in the set before is read
from the item's metadata before the event, which the writer hands the feed with the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from vm_registry.domain.events import DEREGISTERED
from vm_registry.domain.model import Entry
from vm_registry.domain.selectors import Selector
from vm_registry.feed.tail import AFTER, BEFORE, NO_ENTRY, ROLE, TYPE, VM_ID, FeedItem, frame_of

_DATA = b"\ndata: {"
_LEFT = b'\ndata: {"left":true,'


@dataclass(frozen=True, slots=True)
class FeedFilter:
    role: str | None = None
    vm_id: str | None = None
    types: frozenset[str] | None = None
    selector: Selector | None = None

    @property
    def shows_everything(self) -> bool:
        return self == _EVERYTHING

    def admits(self, item: FeedItem) -> bool:
        """Role, VM and types; the selector is judged by `frame`."""
        if self.vm_id is not None and item[VM_ID] != self.vm_id:
            return False
        if self.role is not None and item[ROLE] != self.role:
            return False
        return self.types is None or item[TYPE] in self.types

    def frame(self, item: FeedItem) -> bytes | None:
        """The bytes this subscriber is sent for `item`, or None when it is not sent."""
        if not self.admits(item):
            return None
        selector = self.selector
        if selector is None:
            return frame_of(item)
        after = item[AFTER]
        if after is not NO_ENTRY and selector.matches(after):
            return frame_of(item)
        before = item[BEFORE]
        if before is NO_ENTRY or not selector.matches(before):
            return None  # neither in the set before nor after: nothing this watcher shows
        if item[TYPE] == DEREGISTERED:
            return frame_of(item)
        return left(frame_of(item))

    def admits_entry(self, entry: Entry) -> bool:
        if self.vm_id is not None and entry.id != self.vm_id:
            return False
        if self.role is not None and entry.role != self.role:
            return False
        return self.selector is None or self.selector.matches(entry.metadata)


def left(frame: bytes) -> bytes:
    """`frame` with `"left": true` first in its data: the VM left the watcher's set."""
    return frame.replace(_DATA, _LEFT, 1)


_EVERYTHING = FeedFilter()
