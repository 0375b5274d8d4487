"""The projection's activity index: the running, unmarked VMs, least recently seen first. The
reaper reads only its front, so it must hold exactly those VMs, in that order, whichever way the
state was built (folded event by event, replayed from stored rows, loaded from a snapshot)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import event_logs
from tests.domain.test_startup_replay import replay_in_chunks
from vm_registry.domain import snapshot
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, fold


def assert_indexed(state: State) -> None:
    running = [e for e in state.entries.values() if e.status == "running"]
    assert state.running == len(running)
    assert set(state.by_activity) == {e.id for e in running if not e.stale}
    seen = [state.entries[vm_id].last_seen for vm_id in state.by_activity]
    assert seen == sorted(seen)


@given(event_logs(max_commands=40))
def test_folding_keeps_the_index_exact(log: list[Event]) -> None:
    state = State()
    for event in log:
        apply(state, event)
        assert_indexed(state)


@given(event_logs(max_commands=40), st.data())
def test_a_replay_in_place_or_a_snapshot_rebuilds_the_same_index(
    log: list[Event], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(log)), label="snapshot at")
    loaded = snapshot.decode(snapshot.encode(fold(log[:split])))
    assert_indexed(loaded)
    loaded = replay_in_chunks(loaded, log[split:], 3)
    assert_indexed(loaded)
    assert set(loaded.by_activity) == set(fold(log).by_activity)
