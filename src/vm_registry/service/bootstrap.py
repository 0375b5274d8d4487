"""Building the projection at startup: replay the log into a fresh state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from vm_registry.domain.fold import State
from vm_registry.domain.replay import Replay, Unfoldable
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.log import EventLog


async def replay(store: EventLog, state: State | None = None) -> State:
    """Fold the log after `state` into it, straight from the stored rows (`domain/replay.py`)."""
    replaying = Replay(State() if state is None else state)
    with _collector_paused():
        try:
            async for chunk in store.scan_for_replay(after=replaying.state.revision):
                replaying.rows(chunk.rows, chunk.heartbeat, chunk.names, chunk.decode)
                del chunk  # before the next one is read
            return replaying.finish()
        except Unfoldable as error:
            raise StoreCorrupt(str(error), error.seq) from error


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
