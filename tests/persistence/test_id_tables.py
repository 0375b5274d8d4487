"""The intern caches' byte bound (persistence/id_tables.py), as a unit: what they hold never
passes their budget, and they know when they have let something go. That the log still reads
and writes right with caches that let go is the contract's
(tests/persistence/contract_id_tables.py)."""

from __future__ import annotations

from tests.domain.strategies import T0
from vm_registry.domain import events as ev
from vm_registry.domain.events import Event
from vm_registry.persistence.id_tables import Found, IdTables


def heartbeat(seq: int, vm_id: str, agent: str) -> Event:
    return Event(seq, ev.HEARTBEAT, vm_id, T0 + seq, {"ip": "::1", "userAgent": agent})


def test_the_caches_hold_at_most_their_budgets() -> None:
    tables = IdTables(vm_bytes=16 * 1024, actor_bytes=16 * 1024)
    for seq in range(1, 2_001):
        tables.rows_for([heartbeat(seq, f"vm-{seq}", "a" * 200 + str(seq))], [b"h"])
        assert tables.vms.charged <= 16 * 1024
        assert tables.actors.charged <= 16 * 1024
    assert not tables.complete
    assert (tables.last_vm, tables.last_actor) == (2_000, 2_000)


def test_caches_that_never_let_go_stay_complete() -> None:
    tables = IdTables()
    tables.learn([(n, f"vm-{n}") for n in range(1, 1_001)], [(1, b'{"ip":"::1"}')])
    assert tables.complete
    assert tables.vm_id("vm-7") == 7


def test_a_name_the_table_holds_keeps_its_id_and_a_new_one_takes_the_next() -> None:
    tables = IdTables(vm_bytes=1024, actor_bytes=1024)
    tables.vms.last = tables.actors.last = 50
    found = Found()
    found.learn([(3, "vm-old")], [(4, b'{"ip":"::1","userAgent":"x"}')])
    events = [heartbeat(1, "vm-old", "x"), heartbeat(2, "vm-new", "x"), heartbeat(3, "vm-old", "y")]
    new_vms, new_actors, rows = tables.rows_for(events, [b"h"] * 3, found)
    assert new_vms == [(51, "vm-new")]
    assert [key for key, _ in new_actors] == [51]
    assert [(row[2], row[4]) for row in rows] == [(3, 4), (51, 4), (3, 51)]
    tables.forget_after(50, 50)  # the transaction rolled back
    assert tables.vm_id("vm-new") is None and tables.vm_id("vm-old") == 3
