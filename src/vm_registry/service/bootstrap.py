"""Building the projection at startup: replay the log into a fresh state."""

from __future__ import annotations

from vm_registry.domain.fold import State, replay_unshared
from vm_registry.persistence.log import EventLog


async def replay(store: EventLog, state: State | None = None) -> State:
    """Fold the log after `state` into it. The state must not be shared with anything yet:
    heartbeats are applied in place (see `fold.replay_unshared`)."""
    result = State() if state is None else state
    async for chunk in store.scan_for_replay(after=result.revision):
        replay_unshared(result, chunk)
    result.reindex_activity()
    return result
