"""Building the projection at startup: replay the log into a fresh state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from vm_registry.domain.fold import State, Unfoldable, replay_rows
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import EventLog


async def replay(store: EventLog, state: State | None = None) -> State:
    """Fold the log after `state` into it. The state must not be shared with anything yet:
    heartbeats are applied in place (see `fold.replay_rows`)."""
    result = State() if state is None else state
    with _collector_paused():
        async for chunk in store.scan_for_replay(after=result.revision):
            try:
                replay_rows(result, chunk.rows, chunk.heartbeat, chunk.names, chunk.decode)
            except Unfoldable as error:
                raise StoreCorrupt(str(error), error.seq) from error
            del chunk  # before the next one is read
    result.reindex_activity()
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the replay. A replay makes no cycles, but each of
    its million rows is a tuple the collector tracks, and a chunk outlives many young
    collections, so the rows were promoted and walked again and again by older ones: about
    a twelfth of a cold start's CPU (docs/benchmarks.md, P7). Only startup replays, before
    anything else runs."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
