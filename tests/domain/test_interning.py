"""The shared-values table (domain/interning.py): sharing changes memory, never the state, and
the table is bounded in bytes (issue #25, 3), and it belongs to a state, not to the module."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.domain.strategies import T0, event_logs
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, apply, fold
from vm_registry.domain.interning import VALUE_OVERHEAD, SharedValues
from vm_registry.domain.snapshot import decode, encode


@given(event_logs(), st.integers(0, 4096))
def test_the_state_is_the_same_whatever_the_tables_budget(log: list[Event], budget: int) -> None:
    assert fold(log, State(SharedValues(budget))) == fold(log, State(SharedValues(0)))


def test_equal_values_are_one_object() -> None:
    shared = SharedValues()
    first = shared.json_value({"zone": "a", "tags": [1, 2]})
    assert shared.json_value({"zone": "a", "tags": [1, 2]}) is first
    # Another key order renders differently, so it is another value.
    assert shared.json_value({"tags": [1, 2], "zone": "a"}) is not first


def test_the_table_holds_at_most_its_budget_of_bytes() -> None:
    shared = SharedValues(max_bytes=64 * 1024)
    for n in range(5_000):
        shared.json_value({"pad": f"{n:06d}" + "x" * 1000})
        assert shared.charged <= 64 * 1024
    assert 0 < len(shared) < 64 * 1024 // 1000


def test_a_value_in_use_stays_shared_while_new_ones_come_and_go() -> None:
    shared = SharedValues(max_bytes=16 * 1024)
    common = shared.json_value(["service-list"])
    for n in range(1_000):
        shared.json_value({"n": n, "pad": "y" * 200})
        # Looked up often enough, it moves up a generation instead of being let go.
        assert shared.json_value(["service-list"]) is common


def test_a_value_larger_than_half_the_budget_is_not_kept() -> None:
    shared = SharedValues(max_bytes=1024)
    big = {"pad": "z" * (512 - VALUE_OVERHEAD)}
    assert shared.json_value(big) is big
    assert len(shared) == 0 and shared.charged == 0


def registration(seq: int, vm_id: str, metadata: dict[str, str]) -> Event:
    data = {"name": vm_id, "role": "worker", "address": "10.0.0.1", "registeredBy": "t"}
    return Event(seq, ev.REGISTERED, vm_id, T0 + seq, {}, {**data, "metadata": metadata})


def test_each_state_has_its_own_table_and_its_copies_share_it() -> None:
    one, other = State(), State()
    assert one.shared is not other.shared
    assert one.copy().shared is one.shared
    apply(one, registration(1, "a", {"k": "v"}))
    apply(other, registration(1, "a", {"k": "v"}))
    assert one.entries["a"].metadata is not other.entries["a"].metadata
    apply(one, registration(2, "b", {"k": "v"}))
    assert one.entries["b"].metadata is one.entries["a"].metadata


def test_a_decoded_snapshot_shares_equal_values() -> None:
    state = fold([registration(1, "a", {"k": "v"}), registration(2, "b", {"k": "v"})])
    loaded = decode(encode(state))
    assert loaded == state
    assert loaded.entries["a"].metadata is loaded.entries["b"].metadata
