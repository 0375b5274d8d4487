"""Events: the only thing ever written to the log.

An event records a decision that was already validated; the fold never rejects one. `data`
holds only the fields the event set, so a heartbeat carries nothing but its id and time.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

REGISTERED: Final = "vm.registered"
UPDATED: Final = "vm.updated"
HEARTBEAT: Final = "vm.heartbeat"
DEREGISTERED: Final = "vm.deregistered"
STALE: Final = "vm.stale"
# A service's health check changed status: `{service, status: passing|critical, detail}`.
HEALTH: Final = "vm.health"

EVENT_TYPES: Final = (REGISTERED, UPDATED, HEARTBEAT, DEREGISTERED, STALE, HEALTH)

_EMPTY: dict[str, Any] = {}


class Event(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: as immutable, and over twice as fast to
    # build, which matters when startup replays a million of them.
    seq: int
    type: str
    vm_id: str
    at: int  # epoch milliseconds, from the writer's clock
    actor: dict[str, Any] = _EMPTY  # never mutated, so one shared empty default is safe
    data: dict[str, Any] = _EMPTY


def canonical_bytes(event: Event) -> bytes:
    """The bytes the hash chain covers: every field, keys sorted, no whitespace."""
    return orjson.dumps(
        [event.seq, event.type, event.vm_id, event.at, event.actor, event.data],
        option=orjson.OPT_SORT_KEYS,
    )
