"""Startup's fast path (folded straight from the stored rows, each VM's heartbeats applied once,
the last before its next other event) must give exactly the state the ordinary fold gives, for
any log, in chunks of any size and from any snapshot point."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.strategies import event_logs
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, fold
from vm_registry.domain.replay import Replay, Unfoldable
from vm_registry.persistence.store import open_store
from vm_registry.service.bootstrap import replay


@given(event_logs(max_commands=40), st.integers(1, 7))
def test_replaying_rows_equals_the_fold(log: list[Event], size: int) -> None:
    fast = replay_in_chunks(State(), log, size)
    assert fast == fold(log)
    assert set(fast.by_activity) == set(fold(log).by_activity)  # order among ties is free


def replay_in_chunks(state: State, log: list[Event], size: int) -> State:
    """`log` replayed into `state` from rows as a store might hold them (a small key per VM, a
    kind code, the event kept aside), `size` rows a chunk."""
    keys = {vm_id: key for key, vm_id in enumerate(dict.fromkeys(e.vm_id for e in log))}
    names = {key: vm_id for vm_id, key in keys.items()}
    kind = {t: code for code, t in enumerate(ev.EVENT_TYPES)}
    rows = [(e.seq, kind[e.type], keys[e.vm_id], e.at, e) for e in log]
    replaying = Replay(state)
    for start in range(0, len(rows), size):
        replaying.rows(rows[start : start + size], kind[ev.HEARTBEAT], names, _stored_event)
    return replaying.finish()


def _stored_event(row: tuple[int, int, int, int, Event]) -> Event:
    return row[4]


@given(event_logs(max_commands=40), st.integers(1, 7))
def test_replay_changes_no_entry_in_place(log: list[Event], size: int) -> None:
    # Entries are shared by snapshots, the feed and the renderer's cache: a replay from a
    # snapshot point must leave the entries it started from as they were.
    base = fold(log[: len(log) // 2])
    before = {vm_id: (e.last_seen, e.revision, e.stale) for vm_id, e in base.entries.items()}
    kept = dict(base.entries)
    replay_in_chunks(base.copy(), log[len(log) // 2 :], size)
    assert {k: (e.last_seen, e.revision, e.stale) for k, e in kept.items()} == before


def test_a_heartbeat_of_a_vm_never_registered_is_unfoldable_at_its_seq() -> None:
    registration = Event(
        1, ev.REGISTERED, "a", 10, {}, {"name": "a", "role": "worker", "address": "x",
                                         "registeredBy": "t"}
    )  # fmt: skip
    orphan = Event(2, ev.HEARTBEAT, "b", 11)
    with pytest.raises(Unfoldable) as raised:
        replay_in_chunks(State(), [registration, orphan, Event(3, ev.HEARTBEAT, "a", 12)], 2)
    assert raised.value.seq == 2


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
