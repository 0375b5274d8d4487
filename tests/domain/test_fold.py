from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import T0, event_logs
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, evolve, fold, install
from vm_registry.domain.model import ROLES, Entry


@given(event_logs(), st.data())
def test_folding_at_once_equals_applying_one_at_a_time_from_any_split(
    log: list[Event], data: st.DataObject
) -> None:
    whole = fold(log)
    split = data.draw(st.integers(0, len(log)), label="split")
    state = fold(log[:split])
    for event in log[split:]:
        state = apply(state, event)
    assert state == whole


@given(event_logs(), st.data())
def test_a_copy_is_unaffected_by_what_is_applied_to_the_original(
    log: list[Event], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(log)), label="split")
    state = fold(log[:split])
    snapshot = state.copy()
    fold(log[split:], state)
    assert snapshot == fold(log[:split])
    assert fold(log[split:], snapshot) == state


@given(event_logs())
def test_the_projection_matches_a_naive_reading_of_the_log(log: list[Event]) -> None:
    state = fold(log)
    assert state.revision == (log[-1].seq if log else 0)
    last_of: dict[str, Event] = {}
    registered_by_event: dict[str, Event] = {}
    touched: dict[str, Event] = {}
    last_not_health: dict[str, Event] = {}
    health: dict[str, dict[str, str]] = {}
    for event in log:
        last_of[event.vm_id] = event
        if event.type == ev.REGISTERED:
            registered_by_event[event.vm_id] = event
            health[event.vm_id] = {}
        if event.type not in (ev.STALE, ev.HEALTH):
            touched[event.vm_id] = event
        if event.type != ev.HEALTH:
            last_not_health[event.vm_id] = event
        if event.type == ev.HEALTH:
            health[event.vm_id][event.data["service"]] = event.data["status"]
        if event.type == ev.UPDATED and "services" in event.data:
            checked = {s["name"] for s in event.data["services"] or () if "healthPath" in s}
            health[event.vm_id] = {k: v for k, v in health[event.vm_id].items() if k in checked}
    alive = [vm for vm, event in last_of.items() if event.type != ev.DEREGISTERED]
    assert set(state.entries) == set(alive)
    for vm_id, entry in state.entries.items():
        registration = registered_by_event[vm_id]
        assert entry.revision == last_of[vm_id].seq
        assert entry.registered_at == registration.at
        assert entry.created_seq == registration.seq
        assert entry.last_seen == touched[vm_id].at
        assert entry.role == registration.data["role"]
        assert entry.stale == (last_not_health[vm_id].type == ev.STALE)
        assert entry.health == (health[vm_id] or None)


@given(event_logs())
def test_entries_and_role_indexes_are_in_registration_order(log: list[Event]) -> None:
    state = fold(log)
    entries = list(state.entries.values())
    assert [e.created_seq for e in entries] == sorted(e.created_seq for e in entries)
    for role in ROLES:
        assert list(state.by_role[role]) == [e.id for e in entries if e.role == role]


def registered(seq: int, vm_id: str = "vm-1", **data: object) -> Event:
    body: dict[str, object] = {
        "name": "n",
        "role": "worker",
        "status": "running",
        "address": "a.example",
        "registeredBy": "me",
    }
    body.update(data)
    return Event(seq, ev.REGISTERED, vm_id, T0 + seq, {}, body)


def test_an_update_changes_only_the_fields_it_sets_and_null_clears() -> None:
    state = fold(
        [
            registered(1, services=[{"name": "rpc", "port": 3001}], metadata={"k": 1}),
            Event(2, ev.UPDATED, "vm-1", T0 + 10, {}, {"status": "paused", "metadata": None}),
        ]
    )
    entry = state.entries["vm-1"]
    assert entry.status == "paused"
    assert entry.metadata is None
    assert entry.services == [{"name": "rpc", "port": 3001}]
    assert (entry.name, entry.address, entry.registered_at) == ("n", "a.example", T0 + 1)
    assert entry.last_seen == T0 + 10
    assert entry.revision == 2


def test_a_heartbeat_clears_the_stale_mark_and_moves_only_last_seen() -> None:
    state = fold(
        [
            registered(1),
            Event(2, ev.STALE, "vm-1", T0 + 50, {}, {}),
        ]
    )
    assert state.entries["vm-1"].stale
    assert state.entries["vm-1"].last_seen == T0 + 1
    apply(state, Event(3, ev.HEARTBEAT, "vm-1", T0 + 60, {}, {}))
    entry = state.entries["vm-1"]
    assert not entry.stale
    assert (entry.last_seen, entry.registered_at, entry.revision) == (T0 + 60, T0 + 1, 3)


def test_reregistering_after_deregistration_makes_the_vm_newest() -> None:
    state = fold(
        [
            registered(1, "a"),
            registered(2, "b", role="infra"),
            Event(3, ev.DEREGISTERED, "a", T0 + 3, {}, {}),
            registered(4, "a", role="infra"),
        ]
    )
    assert list(state.entries) == ["b", "a"]
    assert list(state.by_role["infra"]) == ["b", "a"]
    assert list(state.by_role["worker"]) == []
    assert state.entries["a"].registered_at == T0 + 4


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"vm\.exploded"):
        apply(State(), Event(1, "vm.exploded", "vm-1", T0, {}, {}))


def test_states_with_different_content_are_not_equal() -> None:
    assert fold([registered(1)]) != fold([registered(1, name="other")])
    assert fold([registered(1)]) != State()


def health(seq: int, service: str, status: str, vm_id: str = "vm-1") -> Event:
    data = {"service": service, "status": status, "detail": "HTTP 200"}
    return Event(seq, ev.HEALTH, vm_id, T0 + seq, {"system": "health-checks"}, data)


CHECKED = [{"name": "rpc", "port": 3001, "healthPath": "/health"}, {"name": "db", "port": 5432}]


def test_a_health_event_records_the_status_and_moves_the_revision_but_not_last_seen() -> None:
    state = fold([registered(1, services=CHECKED), health(2, "rpc", "critical")])
    entry = state.entries["vm-1"]
    assert entry.health == {"rpc": "critical"}
    assert (entry.revision, entry.last_seen) == (2, T0 + 1)
    apply(state, health(3, "rpc", "passing"))
    assert state.entries["vm-1"].health == {"rpc": "passing"}


def test_health_survives_heartbeats_and_the_stale_mark_but_not_the_service() -> None:
    state = fold(
        [
            registered(1, services=CHECKED),
            health(2, "rpc", "critical"),
            Event(3, ev.HEARTBEAT, "vm-1", T0 + 3, {}, {}),
            Event(4, ev.STALE, "vm-1", T0 + 4, {}, {}),
        ]
    )
    assert state.entries["vm-1"].health == {"rpc": "critical"}
    apply(state, Event(5, ev.UPDATED, "vm-1", T0 + 5, {}, {"name": "renamed"}))
    assert state.entries["vm-1"].health == {"rpc": "critical"}
    unchecked = [{"name": "rpc", "port": 3001}]
    apply(state, Event(6, ev.UPDATED, "vm-1", T0 + 6, {}, {"services": unchecked}))
    assert state.entries["vm-1"].health is None


def test_a_new_registration_starts_without_health() -> None:
    state = fold(
        [
            registered(1, services=CHECKED),
            health(2, "rpc", "passing"),
            Event(3, ev.DEREGISTERED, "vm-1", T0 + 3, {}, {}),
            registered(4, services=CHECKED),
        ]
    )
    assert state.entries["vm-1"].health is None


@given(event_logs(), st.lists(st.integers(1, 6), max_size=10))
def test_installing_the_writers_overlay_equals_applying_each_event(
    log: list[Event], sizes: list[int]
) -> None:
    """The writer works each batch out once: it evolves every event against the overlay of the
    batch's earlier effects, then installs those entries. For any log cut into any batches,
    that must give exactly the state `apply` gives."""
    state = State()
    position = 0
    for size in [*sizes, len(log)]:
        batch = log[position : position + size]
        position += len(batch)
        overlay: dict[str, Entry | None] = {}
        worked_out = []
        for event in batch:
            before = (
                overlay[event.vm_id] if event.vm_id in overlay else state.entries.get(event.vm_id)
            )
            overlay[event.vm_id] = after = evolve(before, event)
            worked_out.append((event, after))
        for event, after in worked_out:
            install(state, event.seq, event.vm_id, after)
            assert state.entries.get(event.vm_id) is after
    assert state == fold(log)
