"""Offline replay: the state of a log at any point, from the nearest snapshot."""

from __future__ import annotations

from collections.abc import Callable

from vm_registry.domain.errors import Gone, Invalid
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.log import EventLog, EventQuery
from vm_registry.persistence.store import Store
from vm_registry.service.snapshots import newest_valid

Progress = Callable[[int], None]


async def point_for(store: EventLog, until: int | None, as_of: int | None) -> int:
    if until is not None and as_of is not None:
        raise Invalid("give either --until or --as-of, not both")
    first = await store.refresh_first_seq()
    if as_of is not None:
        seq = await store.seq_at_time(as_of)
        if seq < first and first > 1:
            raise Gone(f"history before seq {first} was compacted; that time is not available")
        return seq
    if until is None:
        return store.head
    if until > store.head:
        raise Invalid(f"seq {until} is beyond the head of the log ({store.head})")
    if until < first - 1:
        raise Gone(f"history before seq {first} was compacted; seq {until} is not available")
    return until


async def state_at(store: Store, seq: int, progress: Progress | None = None) -> State:
    base = await newest_valid(store, upto=seq)
    if base is None:
        first = store.log.first_seq
        if first > 1:
            raise Gone(f"no valid snapshot covers the compacted history before {first}")
        base = State()
    state = base.copy()
    async for chunk in store.log.scan(after=state.revision, upto=seq):
        for event in chunk:
            apply(state, event)
        if progress is not None:
            progress(state.revision)
    state.revision = seq
    return state


async def vm_history(store: EventLog, vm_id: str, upto: int) -> list[Event]:
    if not await store.vm_known(vm_id):
        raise Invalid(f"VM {vm_id!r} never appears in the log")
    return await store.read(
        EventQuery(after=store.first_seq - 1, limit=1 << 62, vm_id=vm_id, upto=upto)
    )
