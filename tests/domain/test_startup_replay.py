"""Startup's fast path (heartbeats applied in place, folded straight from the stored rows) must
give exactly the state the ordinary fold gives, for any log and from any snapshot point."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import event_logs
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, fold, replay_rows, touch_unshared
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
def test_replaying_rows_in_place_equals_the_fold(log: list[Event], size: int) -> None:
    # Rows as a store might hold them: a small key per VM, a kind code, the event kept aside.
    keys = {vm_id: key for key, vm_id in enumerate(dict.fromkeys(e.vm_id for e in log))}
    names = {key: vm_id for vm_id, key in keys.items()}
    kind = {t: code for code, t in enumerate(ev.EVENT_TYPES)}
    rows = [(e.seq, kind[e.type], keys[e.vm_id], e.at, e) for e in log]
    fast = State()
    for start in range(0, len(rows), size):
        replay_rows(fast, rows[start : start + size], kind[ev.HEARTBEAT], names, _stored_event)
    fast.reindex_activity()
    assert fast == fold(log)
    assert set(fast.by_activity) == set(fold(log).by_activity)  # order among ties is free


def _stored_event(row: tuple[int, int, int, int, Event]) -> Event:
    return row[4]


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
