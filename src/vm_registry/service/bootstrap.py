"""Building the projection at startup: replay the log into a fresh state."""

from __future__ import annotations

from vm_registry.domain.fold import State, apply
from vm_registry.persistence.store import EventStore


async def replay(store: EventStore, state: State | None = None) -> State:
    result = State() if state is None else state
    async for chunk in store.scan(after=result.revision):
        for event in chunk:
            apply(result, event)
    return result
