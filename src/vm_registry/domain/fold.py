"""The fold: `apply(state, event)`, the one function that turns the log into the registry.

It is deterministic, with no I/O and no clock: replaying the same events always gives the same
state, which is what startup, time travel and `verify` rely on.

For speed, `apply` updates the given `State` in place and returns it (a fleet of 100,000 VMs
cannot be copied per heartbeat): that is the one thing the fold mutates. Entries themselves are
never mutated, so `State.copy()` is a cheap, shallow and safe way to branch off a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.interning import SharedValues
from vm_registry.domain.model import ROLES, Entry

RUNNING = "running"
# Shares nothing (its budget holds no value): for `evolve` outside any state.
_UNSHARED = SharedValues(max_bytes=0)


class State:
    __slots__ = ("by_activity", "by_role", "entries", "revision", "running", "shared")

    def __init__(self, shared: SharedValues | None = None) -> None:
        # Insertion order of `entries` and of each role index is registration order, because
        # an id is only ever (re)inserted by `vm.registered` and role is not updatable.
        self.entries: dict[str, Entry] = {}
        self.by_role: dict[str, dict[str, None]] = {role: {} for role in ROLES}
        self.revision = 0  # seq of the last event folded in
        # The running VMs not marked stale, least recently seen first: an event that moves
        # `last_seen` moves its VM to the end (`at` never decreases along the log), so the
        # reaper reads only the front of it, never the whole fleet. Derived, like `by_role`,
        # but its order among VMs seen in the same millisecond is not part of the state.
        self.by_activity: dict[str, None] = {}
        self.running = 0  # VMs whose status is running, marked stale or not
        # The values its entries share (domain/interning.py); copies of this state share it.
        self.shared = SharedValues() if shared is None else shared

    def copy(self) -> State:
        clone = State(self.shared)
        clone.entries = dict(self.entries)
        clone.by_role = {role: dict(ids) for role, ids in self.by_role.items()}
        clone.revision = self.revision
        clone.by_activity = dict(self.by_activity)
        clone.running = self.running
        return clone

    def reindex_activity(self) -> None:
        """Rebuild `by_activity` and `running` from the entries: after a snapshot is loaded,
        and after a replay that touched entries in place."""
        running = [e for e in self.entries.values() if e.status == RUNNING]
        self.running = len(running)
        awake = sorted((e for e in running if not e.stale), key=_last_seen)
        self.by_activity = dict.fromkeys(e.id for e in awake)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (
            self.revision == other.revision
            and list(self.entries.items()) == list(other.entries.items())
            and {r: list(ids) for r, ids in self.by_role.items()}
            == {r: list(ids) for r, ids in other.by_role.items()}
        )

    __hash__ = None  # type: ignore[assignment]


def evolve(entry: Entry | None, event: Event, shared: SharedValues = _UNSHARED) -> Entry | None:
    """The effect of one event on one entry. The writer uses it to validate a batch of
    commands against the entries earlier commands in the same batch produced. `shared`: the
    table of the state the entry goes into (without one, nothing is shared; same result)."""
    kind = event.type
    if kind == ev.HEARTBEAT:
        assert entry is not None
        return touched(entry, event.at, event.seq)
    if kind == ev.REGISTERED:
        data = event.data
        return Entry(
            id=event.vm_id,
            name=data["name"],
            role=shared.text(data["role"]),
            status=shared.text(data.get("status", RUNNING)),
            address=data["address"],
            services=shared.json_value(data.get("services")),
            metadata=shared.json_value(data.get("metadata")),
            registered_by=shared.text(data["registeredBy"]),
            registered_at=event.at,
            last_seen=event.at,
            revision=event.seq,
            created_seq=event.seq,
            owner=event.actor.get("token") if event.actor.get("scope") == "agent" else None,
        )
    if kind == ev.UPDATED:
        assert entry is not None
        data = event.data
        services = shared.json_value(data.get("services", entry.services))
        return entry.replace(
            name=data.get("name", entry.name),
            status=shared.text(data.get("status", entry.status)),
            address=data.get("address", entry.address),
            services=services,
            metadata=shared.json_value(data.get("metadata", entry.metadata)),
            last_seen=event.at,
            revision=event.seq,
            stale=False,
            health=_health_kept(entry.health, services) if "services" in data else entry.health,
        )
    if kind == ev.HEALTH:
        assert entry is not None
        data = event.data
        health = dict(entry.health or {})
        health[data["service"]] = data["status"]
        return entry.replace(health=health, revision=event.seq)
    if kind == ev.STALE:
        assert entry is not None
        return entry.replace(stale=True, revision=event.seq)
    if kind == ev.DEREGISTERED:
        return None
    raise ValueError(f"unknown event type {kind!r}")


def touched(entry: Entry, at: int, seq: int) -> Entry:
    """`entry` after a heartbeat at `at`, event `seq`: seen, and no longer marked stale. The one
    definition of what a heartbeat does, which `evolve` (so the writer), `apply` (time travel,
    the feed's catch-up) and the startup replay (`domain/replay.py`) all use. The fold's
    hottest path, so a positional constructor call rather than `replace`'s generic copy."""
    return Entry(
        entry.id, entry.name, entry.role, entry.status, entry.address, entry.services,
        entry.metadata, entry.registered_by, entry.registered_at, at, seq, entry.created_seq,
        False, entry.owner, entry.health,
    )  # fmt: skip


def _health_kept(
    health: dict[str, str] | None, services: list[dict[str, Any]] | None
) -> dict[str, str] | None:
    """A recorded status outlives an update only while its service is still checked: a
    service that was removed, or lost its `healthPath`, no longer has a health."""
    if not health:
        return health
    checked = {s["name"] for s in services or () if "healthPath" in s}
    kept = {name: status for name, status in health.items() if name in checked}
    return kept or None


def _last_seen(entry: Entry) -> int:
    return entry.last_seen


def apply(state: State, event: Event) -> State:
    vm_id = event.vm_id
    if event.type == ev.HEARTBEAT:  # 97% of a typical log: skip the general bookkeeping
        entries = state.entries
        entries[vm_id] = entry = touched(entries[vm_id], event.at, event.seq)
        activity = state.by_activity
        activity.pop(vm_id, None)
        if entry.status == RUNNING:
            activity[vm_id] = None
        state.revision = event.seq
        return state
    after = evolve(state.entries.get(vm_id), event, state.shared)
    install(state, event.seq, vm_id, after)
    return state


def install(state: State, seq: int, vm_id: str, entry: Entry | None) -> None:
    """Put `entry`, the VM's value right after event `seq`, into the state (None: gone).

    `apply` is `install` of what `evolve` computes. The writer calls it directly with the
    entries it already computed while deciding a batch, so each event is worked out once and
    the projection holds the very objects the callers got back (which is what lets the
    renderer's identity cache hit). Entries must be installed in seq order: a VM deregistered
    and registered again moves to the end of the registration order, as `apply` does it."""
    entries = state.entries
    previous = entries.get(vm_id)
    if entry is None:
        if previous is not None:
            del entries[vm_id]
            del state.by_role[previous.role][vm_id]
    elif previous is None:
        entries[vm_id] = entry
        state.by_role[entry.role][vm_id] = None
    else:
        entries[vm_id] = entry
    _follow_activity(state, vm_id, previous, entry)
    state.revision = seq


def _follow_activity(
    state: State, vm_id: str, previous: Entry | None, current: Entry | None
) -> None:
    was_running = previous is not None and previous.status == RUNNING
    is_running = current is not None and current.status == RUNNING
    state.running += is_running - was_running
    activity = state.by_activity
    if current is None or not is_running or current.stale:
        activity.pop(vm_id, None)
    elif previous is None or current.last_seen != previous.last_seen or vm_id not in activity:
        activity.pop(vm_id, None)
        activity[vm_id] = None


def fold(events: Iterable[Event], state: State | None = None) -> State:
    result = State() if state is None else state
    for event in events:
        apply(result, event)
    return result
