"""A published event's frame, rendered once, when a watcher first needs it.

Rendering (the payload's dicts, three ISO timestamps, orjson) was most of what publishing cost
the writer's thread, paid for every heartbeat even with no watcher connected, and most items
fall off the tail unread. So the writer hands the tail what the frame is made of, and the first
subscriber that sends the item (or reads it to catch up) renders it, for every other reader too.

What rendering reads cannot change in between: the entry is immutable (domain/model.py), and
the event's actor and data, the only parts of it a caller built, are encoded at once into bytes
and spliced in whole (`orjson.Fragment`), so the frame equals the one `feed_item` renders, byte
for byte (tests/feed/test_pending.py).

The tail's byte bound stays honest (feed/tail.py, `item_size`). A pending item is charged the
bytes it holds besides `ITEM_OVERHEAD` (which covers this object and the entry's own slots): the
encoded actor and data, and, as the metadata rule does, what the entry it retires (`before`)
held that its successor does not share; a version's name, address, services, health and so on
are only kept alive by the tail once the VM's next event replaced them, and that event's item
is the newest to refer to it. Its frame is charged when it is rendered, if the tail still holds
the item, and the tail then drops its oldest items again until it is within its bound.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Protocol

import orjson

from vm_registry.domain.events import Event
from vm_registry.domain.model import Entry
from vm_registry.feed import frames
from vm_registry.feed.sizes import held_size
from vm_registry.wire import render

_EMPTY_OBJECT = b"{}"


class Holder(Protocol):
    """The tail that holds a pending frame, told of the bytes rendering it added."""

    def charge(self, size: int) -> None: ...


class Pending:
    __slots__ = ("actor", "at", "data", "entry", "frame", "size", "tail")

    def __init__(self, event: Event, entry: Entry | None, before: Entry | None) -> None:
        self.at = event.at
        self.actor = _exact(event.actor) if event.actor else _EMPTY_OBJECT
        self.data = _exact(event.data) if event.data else _EMPTY_OBJECT
        self.entry = entry
        self.frame: bytes | None = None
        # Set by the tail while it holds the item (and charges for it), None after it drops it.
        self.tail: Holder | None = None
        self.size = len(self.actor) + len(self.data)
        if before is not None and (entry is None or not _shares_all(before, entry)):
            self.size += retired_size(before, entry)

    def render(self, seq: int, kind: str, vm_id: str) -> bytes:
        frame = self.frame
        if frame is not None:
            return frame
        payload: dict[str, Any] = render.event(Event(seq, kind, vm_id, self.at))
        payload["actor"] = orjson.Fragment(self.actor)
        payload["data"] = orjson.Fragment(self.data)
        entry = self.entry
        payload["vm"] = None if entry is None else render.entry(entry, entry.stale)
        frame = self.frame = frames.message(kind, payload, seq)
        self.entry, self.actor, self.data = None, _EMPTY_OBJECT, _EMPTY_OBJECT  # no longer needed
        if self.tail is not None:
            self.tail.charge(len(frame))
        return frame


def _exact(value: object) -> bytes:
    """`value` encoded, in a bytes object of its own size: orjson's result keeps the buffer it
    was written in, at least 4 KiB, and about 9 times the length for a long string (an actor's
    80 bytes took 4 KiB, a 900 KB value 8.3 MB), which `len` would not count."""
    return bytes(memoryview(orjson.dumps(value)))


# The entry's fields besides its metadata (the item's `before` metadata is charged for it) and
# its ints and bools (within `ITEM_OVERHEAD`).
_RETIRED = attrgetter(
    "id", "name", "role", "status", "address", "services", "registered_by", "owner", "health",
)  # fmt: skip


def _shares_all(before: Entry, after: Entry) -> bool:
    """Whether `after` shares every one of `_RETIRED` with `before`: what a heartbeat's entry
    does. Written out, as `retired_size` asks only when this says no: on a heartbeat's path
    it is no more than a few comparisons, and makes no objects for the collector to count."""
    return (
        before.services is after.services
        and before.name is after.name
        and before.address is after.address
        and before.health is after.health
        and before.status is after.status
        and before.owner is after.owner
        and before.registered_by is after.registered_by
        and before.role is after.role
        and before.id is after.id
    )


def retired_size(before: Entry, after: Entry | None) -> int:
    """What `before` holds that `after` does not share. A heartbeat's entry shares every one of
    these with the entry before it (domain/fold.py, `touched`), so `Pending` asks only when
    `_shares_all` finds one that differs."""
    held = _RETIRED(before)
    if after is None:
        return sum(held_size(value) for value in held if value is not None)
    kept = _RETIRED(after)
    retired = (value for value, other in zip(held, kept, strict=True) if value is not other)
    return sum(map(held_size, retired))
