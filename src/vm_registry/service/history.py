"""The state as of any seq: the basis of time travel and of feed catch-up from the log."""

from __future__ import annotations

from vm_registry.domain.errors import Gone
from vm_registry.domain.fold import State, apply
from vm_registry.persistence.store import EventStore


async def state_at(store: EventStore, seq: int) -> State:
    """Fold the log up to and including `seq`."""
    if seq < store.first_seq - 1:
        raise Gone(
            f"history before seq {store.first_seq} was compacted; seq {seq} is no longer available"
        )
    state = State()
    async for chunk in store.scan(after=0, upto=seq):
        for event in chunk:
            apply(state, event)
    return state
