"""agent-services' registry file, read entry by entry (`wire/agent_services.py`), and the
timeline an import makes of it (`audit/importing.py`): pure, so tested without a store."""

from __future__ import annotations

import orjson
import pytest

from vm_registry.audit.importing import IMPORT_ACTOR, timeline
from vm_registry.domain.errors import Invalid
from vm_registry.domain.fold import fold
from vm_registry.domain.timestamps import to_iso
from vm_registry.wire import agent_services

NOW = 1_796_000_000_000


def entry(vm_id: str, registered: int, seen: int) -> dict[str, object]:
    return {
        "id": vm_id,
        "name": vm_id,
        "role": "worker",
        "status": "running",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
        "registeredAt": to_iso(registered),
        "lastSeen": to_iso(seen),
    }


def read(*entries: dict[str, object]) -> agent_services.Reading:
    return agent_services.read(orjson.dumps({"vms": list(entries)}), NOW)


def test_a_time_a_little_ahead_of_this_clock_is_taken_as_now() -> None:
    reading = read(entry("a", NOW - 1000, NOW + 30_000))
    assert reading.refused == []
    assert reading.taken[0].last_seen == NOW


def test_the_fold_of_the_timeline_keeps_every_time_and_the_log_never_goes_back() -> None:
    reading = read(
        entry("early", NOW - 9000, NOW - 1000),
        entry("late", NOW - 5000, NOW - 5000),
        entry("middle", NOW - 7000, NOW - 5000),
    )
    events = timeline(reading.taken)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert all(e.actor == IMPORT_ACTOR for e in events)
    # At NOW - 5000, "late" is registered before "middle"'s heartbeat: registrations first.
    assert [(e.type, e.vm_id) for e in events] == [
        ("vm.registered", "early"),
        ("vm.registered", "middle"),
        ("vm.registered", "late"),
        ("vm.heartbeat", "middle"),
        ("vm.heartbeat", "early"),
    ]
    state = fold(events)
    times = {vm_id: (e.registered_at, e.last_seen) for vm_id, e in state.entries.items()}
    assert times == {
        "early": (NOW - 9000, NOW - 1000),
        "late": (NOW - 5000, NOW - 5000),
        "middle": (NOW - 7000, NOW - 5000),
    }
    assert list(state.entries) == ["early", "middle", "late"]  # registration order


def test_a_huge_value_is_quoted_cut_in_its_reason() -> None:
    """A 10 MB time (or id) was quoted whole: a 10 MB line in the import's report."""
    huge_time = {**entry("t", NOW - 1000, NOW), "registeredAt": "x" * 10_000_000}
    huge_id = {**entry("i", NOW - 1000, NOW), "id": "i" * 10_000_000}
    reading = read(huge_time, huge_id)
    assert reading.taken == []
    for refused in reading.refused:
        line = refused.describe()
        assert len(line) < 400, line[:400]
        assert "... (10000000 characters)" in line


def test_a_file_too_deep_to_check_for_repeated_keys_is_refused_not_let_through() -> None:
    """One entry nested past 64 levels is refused by validation on its own, but the key check
    cannot read the file then: a repeat in another entry must not slip through unseen."""
    deep: object = "x"
    for _ in range(70):
        deep = {"d": deep}
    raw = orjson.dumps({"vms": [{**entry("a", NOW, NOW), "metadata": deep}]})
    raw = raw.replace(b'"name":"a"', b'"name":"a","name":"b"')
    with pytest.raises(Invalid, match="the file nests deeper than 64 levels, too deep to check"):
        agent_services.read(raw, NOW)


def test_a_deep_file_without_doubt_is_read_and_its_deep_entry_refused_alone() -> None:
    deep: object = "x"
    for _ in range(70):
        deep = {"d": deep}
    raw = orjson.dumps({"vms": [{**entry("a", NOW, NOW), "metadata": deep}, entry("b", NOW, NOW)]})
    reading = agent_services.read(raw, NOW)
    assert [vm.vm_id for vm in reading.taken] == ["b"]
    assert [refused.index for refused in reading.refused] == [1]
