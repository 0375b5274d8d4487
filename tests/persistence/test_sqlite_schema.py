"""The SQLite schema's third version: heartbeats are left out of the per-VM index, a log of the
second version opens with every event and every per-VM read as before, and a read of one VM's
changes still goes through the index (`persistence/sqlite/schema.py`)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.persistence.contract import append, new
from vm_registry.domain import events as ev
from vm_registry.persistence.log import EventQuery
from vm_registry.persistence.store import open_store

CHANGES = (ev.REGISTERED, ev.UPDATED, ev.DEREGISTERED)


def indexes(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql != ''")
        return sorted(name for (name,) in rows)


def version(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def a_small_log(db: Path) -> None:
    store = await open_store(db)
    try:
        for vm in ("vm-a", "vm-b"):
            await append(store.log, [new(vm, ev.REGISTERED, data={"role": "worker"})])
        await append(store.log, [new(vm) for vm in ("vm-a", "vm-b", "vm-a")])
        await append(store.log, [new("vm-a", ev.UPDATED, data={"metadata": {"k": 1}})])
        await append(store.log, [new("vm-b"), new("vm-a", ev.DEREGISTERED)])
    finally:
        await store.close()


async def reads(db: Path) -> dict[str, list[tuple[int, str]]]:
    store = await open_store(db)
    try:
        found = {}
        for name, query in {
            "a, all": EventQuery(vm_id="vm-a"),
            "a, changes": EventQuery(vm_id="vm-a", types=CHANGES),
            "b, heartbeats": EventQuery(vm_id="vm-b", types=(ev.HEARTBEAT,)),
            "b, after 4": EventQuery(vm_id="vm-b", after=4),
        }.items():
            found[name] = [(e.seq, e.type) for e in await store.log.read(query)]
        return found
    finally:
        await store.close()


async def test_a_new_log_indexes_each_vms_changes_only(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    await a_small_log(db)
    assert version(db) == 3
    assert indexes(db) == ["events_by_vm_changes"]
    with closing(sqlite3.connect(db)) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_by_vm_changes'")
    assert sql[0].endswith("ON events (vm, seq) WHERE type != 3")  # 3: a heartbeat


async def test_a_log_of_the_second_version_opens_with_the_same_reads(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    await a_small_log(db)
    expected = await reads(db)
    assert expected["a, all"] == [(1, "vm.registered"), (3, "vm.heartbeat"),
                                  (5, "vm.heartbeat"), (6, "vm.updated"),
                                  (8, "vm.deregistered")]  # fmt: skip
    with closing(sqlite3.connect(db)) as conn, conn:  # as the second version left it
        conn.executescript(
            "DROP INDEX events_by_vm_changes;"
            "CREATE INDEX events_by_vm ON events (vm, seq);"
            "PRAGMA user_version = 2;"
        )
    assert await reads(db) == expected
    assert version(db) == 3
    assert indexes(db) == ["events_by_vm_changes"]


async def test_reading_one_vms_changes_goes_through_the_index(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    await a_small_log(db)
    store = await open_store(db)
    statements: list[str] = []
    try:
        await store.log._conn().set_trace_callback(statements.append)  # type: ignore[attr-defined]
        await store.log.read(EventQuery(vm_id="vm-a", types=CHANGES))
    finally:
        await store.close()
    (select,) = [sql for sql in statements if sql.startswith("SELECT seq, type")]
    with closing(sqlite3.connect(db)) as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {select}"))
    assert "events_by_vm_changes" in plan, plan
