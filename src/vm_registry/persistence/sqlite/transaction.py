"""One write transaction on the SQLite log, opened by `SqliteEventLog.locked()`.

`BEGIN IMMEDIATE` takes SQLite's write lock, which is global to the file: two processes on one
database serialise here exactly as two replicas on PostgreSQL do on the head row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from vm_registry.domain.events import Event
from vm_registry.persistence.interns import Interns
from vm_registry.persistence.log import chain_hashes, check_continues
from vm_registry.persistence.sqlite.errors import translate

COLUMNS: Final = "seq, type, vm, at, actor, data"

# Turns rows back into events, refreshing the intern caches through the given connection.
Decode = Callable[[Sequence[Any], aiosqlite.Connection], Awaitable[list[Event]]]


class SqliteTransaction:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        interns: Interns,
        decode: Decode,
        path: Path,
        head: int,
        last_hash: bytes,
    ) -> None:
        self._conn = conn
        self._interns = interns
        self._decode = decode
        self._path = path
        self._head = head
        self._last_hash = last_hash

    @property
    def head(self) -> int:
        return self._head

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    async def newer(self, after: int) -> list[Event]:
        if after >= self._head:
            return []
        try:
            rows = await self._conn.execute_fetchall(
                f"SELECT {COLUMNS} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                (after, self._head),
            )
        except sqlite3.Error as error:
            raise translate(error, f"reading {self._path}", self._path) from error
        return await self._decode(list(rows), self._conn)

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        check_continues(events, self._head)
        hashes = chain_hashes(events, self._last_hash)
        new_vms, new_actors, rows = self._interns.rows_for(events, hashes)
        try:
            if new_vms:
                await self._conn.executemany("INSERT INTO vms (id, name) VALUES (?, ?)", new_vms)
            if new_actors:
                await self._conn.executemany(
                    "INSERT INTO actors (id, body) VALUES (?, ?)", new_actors
                )
            await self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as error:
            raise translate(error, f"appending to {self._path}", self._path) from error
        self._head, self._last_hash = events[-1].seq, hashes[-1]
