"""Startup's fast path (heartbeats applied in place, read as bare tuples) must give exactly
the state the ordinary fold gives, for any log and from any snapshot point."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import event_logs
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, fold, replay_unshared, touch_unshared
from vm_registry.persistence.store import open_store
from vm_registry.service.bootstrap import replay


@given(event_logs(max_commands=40))
def test_touching_in_place_equals_applying_the_heartbeat(log: list[Event]) -> None:
    fast = State()
    for event in log:
        if event.type == ev.HEARTBEAT:
            touch_unshared(fast, event.seq, event.vm_id, event.at)
        else:
            apply(fast, event)
    assert fast == fold(log)


@given(event_logs(max_commands=40), st.integers(1, 7))
def test_replaying_chunks_in_place_equals_the_fold(log: list[Event], size: int) -> None:
    items = [(e.seq, e.vm_id, e.at) if e.type == ev.HEARTBEAT else e for e in log]
    fast = State()
    for start in range(0, len(items), size):
        replay_unshared(fast, items[start : start + size])
    fast.reindex_activity()
    assert fast == fold(log)
    assert set(fast.by_activity) == set(fold(log).by_activity)  # order among ties is free


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=event_logs(max_commands=40), data=st.data())
def test_replay_from_the_store_equals_the_fold(
    tmp_path: Path, log: list[Event], data: st.DataObject
) -> None:
    split = data.draw(st.integers(min_value=0, max_value=len(log)), label="snapshot at")

    async def scenario() -> State:
        # A new file per example: examples share tmp_path, and ids of dead objects recur.
        store = await open_store(tmp_path / f"replay-{uuid.uuid4().hex}.db")
        try:
            async with store.log.locked() as tx:
                await tx.append(log)
            return await replay(store.log, fold(log[:split]))
        finally:
            await store.close()

    assert asyncio.run(scenario()) == fold(log)
