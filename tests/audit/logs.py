"""Logs written in-process, straight through the store, for the audit tests.

Events are made the way the writer makes them (each command decided against the entry so far,
then evolved), so every log here is one the registry could really have written. Times come from
the caller, so tests can ask for "the state as of" a known instant.

Each function takes a store target, as `open_store` does: a SQLite file, or a `postgresql://`
URL (a test on the suite's backend passes `backend.target(db)`). `tamper` and `cell` take SQL
written with `?` placeholders in the dialect both backends share, and change the rows behind
the registry's back with the backend's own driver.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import asyncpg

from vm_registry.domain import commands as cmd
from vm_registry.domain import snapshot
from vm_registry.domain.commands import decide
from vm_registry.domain.events import Event
from vm_registry.domain.fold import State, evolve, fold
from vm_registry.domain.model import Entry
from vm_registry.persistence.store import open_store
from vm_registry.persistence.targets import is_postgres_url

T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, in epoch ms
STEP_MS = 1_000
ACTOR = {"ip": "10.0.0.7", "userAgent": "vm-registry-agent/0.1"}


def registration(vm_id: str, role: str = "worker", **extra: Any) -> cmd.Register:
    data: dict[str, Any] = {
        "name": f"{vm_id}-name",
        "role": role,
        "status": "running",
        "address": f"{vm_id}.vm.vers.sh",
        "registeredBy": "orchestrator",
    }
    data.update(extra)
    return cmd.Register(vm_id, data)


def events_of(commands: Iterable[cmd.Command], t0: int = T0, step_ms: int = STEP_MS) -> list[Event]:
    """The events the writer would append for `commands`, one per `step_ms`, from `t0`."""
    entries: dict[str, Entry] = {}
    log: list[Event] = []
    for command in commands:
        current = entries.get(command.vm_id)
        decision = decide(current, command)
        at = t0 + len(log) * step_ms
        event = Event(len(log) + 1, decision.type, command.vm_id, at, ACTOR, decision.data)
        after = evolve(current, event)
        if after is None:
            entries.pop(command.vm_id, None)
        else:
            entries[command.vm_id] = after
        log.append(event)
    return log


def fleet_story() -> list[cmd.Command]:
    """Three dozen events of a small fleet: registrations, heartbeats, updates, a deregistration
    and a re-registration under another role, a VM marked stale."""
    story: list[cmd.Command] = [
        registration("vm-a"),
        registration("vm-b", role="infra"),
        registration("vm-c", metadata={"zone": "fra-1", "gpu": True}),
    ]
    for _ in range(5):
        story += [cmd.Heartbeat("vm-a"), cmd.Heartbeat("vm-b"), cmd.Heartbeat("vm-c")]
    story += [
        cmd.Update("vm-a", {"status": "paused"}),
        cmd.Deregister("vm-b"),
        registration("vm-d", role="lieutenant"),
        registration("vm-b", role="golden"),
    ]
    for _ in range(4):
        story += [cmd.Heartbeat("vm-b"), cmd.Heartbeat("vm-d"), cmd.Heartbeat("vm-c")]
    story += [cmd.MarkStale("vm-c", revision=0), cmd.Update("vm-a", {"status": "running"})]
    return _with_reaper_revisions(story)


def _with_reaper_revisions(story: list[cmd.Command]) -> list[cmd.Command]:
    # The reaper marks what it just saw: fill in each MarkStale's revision from the log so far.
    done: list[cmd.Command] = []
    for command in story:
        if isinstance(command, cmd.MarkStale):
            state = fold(events_of(done))
            command = cmd.MarkStale(command.vm_id, state.entries[command.vm_id].revision)
        done.append(command)
    return done


def state_at(log: Sequence[Event], seq: int) -> State:
    return fold(log[:seq])


async def write(
    path: Path | str, log: Sequence[Event], snapshots_at: Iterable[int] = (), batch: int = 7
) -> None:
    """Append `log` in group commits of `batch`, and store a true snapshot at each seq given."""
    store = await open_store(path)
    try:
        for start in range(0, len(log), batch):
            async with store.log.locked() as tx:
                await tx.append(log[start : start + batch])
        for seq in snapshots_at:
            chain = await store.log.hash_at(seq)
            assert chain is not None
            await store.snapshots.save(seq, chain, snapshot.encode(state_at(log, seq)))
    finally:
        await store.close()


def write_sync(path: Path | str, log: Sequence[Event], snapshots_at: Iterable[int] = ()) -> None:
    asyncio.run(write(path, log, snapshots_at))


Change = Callable[[str, Sequence[Any]], Awaitable[int]]


@asynccontextmanager
async def behind_the_back(path: Path | str) -> AsyncIterator[Change]:
    """A connection of the test's own to the registry's database, beside any store's: it
    changes rows the way an attacker or a bad disk would, and says how many it changed."""
    if is_postgres_url(path):
        conn = await asyncpg.connect(str(path), timeout=10)

        async def on_postgres(sql: str, params: Sequence[Any]) -> int:
            status = await conn.execute(_numbered(sql, len(params)), *params)
            return int(status.split()[-1])  # "UPDATE 1"

        try:
            yield on_postgres
        finally:
            await conn.close()
        return
    with closing(sqlite3.connect(path, isolation_level=None)) as file:

        async def on_sqlite(sql: str, params: Sequence[Any]) -> int:
            return file.execute(sql, params).rowcount

        yield on_sqlite


def tamper(path: Path | str, sql: str, params: Sequence[Any] = ()) -> None:
    """One change behind the registry's back. Plain sqlite3 on a file, so that async tests
    (which cannot start an event loop of their own) may call it too."""
    if is_postgres_url(path):
        changed = asyncio.run(_change_once(path, sql, params))
    else:
        with closing(sqlite3.connect(path)) as conn, conn:
            changed = conn.execute(sql, params).rowcount
    assert changed == 1, f"{sql} changed {changed} rows"


async def _change_once(path: Path | str, sql: str, params: Sequence[Any]) -> int:
    async with behind_the_back(path) as change:
        return await change(sql, params)


def cell(path: Path | str, sql: str, params: Sequence[Any] = ()) -> Any:
    if is_postgres_url(path):
        return asyncio.run(_fetch_on_postgres(str(path), sql, params))
    with closing(sqlite3.connect(path)) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


async def _fetch_on_postgres(url: str, sql: str, params: Sequence[Any]) -> Any:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(_numbered(sql, len(params)), *params)
    finally:
        await conn.close()


def _numbered(sql: str, count: int) -> str:
    # asyncpg numbers its placeholders: the nth `?` becomes `$n`.
    numbers = iter(range(1, count + 1))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`vm-registry ARGS...` as a user runs it (stdout piped, so not a terminal)."""
    command = [sys.executable, "-m", "vm_registry.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
