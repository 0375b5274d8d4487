"""Reading the SQLite log: rows back into events, queries, and the chunked scans.

`LogReader` is the base of `SqliteEventLog`; it reads through the log's reader connection,
which in WAL mode never waits for the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from vm_registry.domain.events import HEARTBEAT, Event
from vm_registry.persistence.codes import TYPE_CODES
from vm_registry.persistence.errors import StoreCorrupt, StoreUnavailable
from vm_registry.persistence.interns import ACTORS_AFTER, VMS_AFTER, Interns
from vm_registry.persistence.log import EventQuery, ReplayChunk
from vm_registry.persistence.sqlite.errors import translate
from vm_registry.persistence.sqlite.replay_reader import read_in_chunks
from vm_registry.persistence.sqlite.transaction import COLUMNS

SCAN_CHUNK: Final = 20_000
# Rows per chunk of startup replay: small enough that a chunk's rows are still in the core's
# cache when the fold reaches them (replay_reader.py). Startup once decoded a whole chunk
# before folding it: at 50,000 registrations a chunk held ~100 MB of short-lived objects,
# interleaved in the allocator's arenas with the entries that stay, and a 100,000-VM fleet
# kept ~2,100 B/VM of RSS for ~1,200 B/VM of live objects (~960 B/VM at 5,000, see
# docs/benchmarks.md). Rows are now decoded one at a time as they are folded.
REPLAY_CHUNK: Final = 1_000
INT64_MAX: Final = (1 << 63) - 1

_SELECT: Final = f"SELECT {COLUMNS} FROM events"
HEARTBEAT_CODE: Final = TYPE_CODES[HEARTBEAT]


def int64(number: int) -> int:
    """Positions and limits from a client may exceed what SQLite can bind (OverflowError, a
    500); past the largest seq any log can reach, a bigger number means the same."""
    return max(min(number, INT64_MAX), -INT64_MAX)


class LogReader:
    path: Path
    busy_timeout_ms: int
    _reader: aiosqlite.Connection | None
    _interns: Interns
    _head: int
    _interned_at: int
    _first_seq: int

    def _conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreUnavailable(f"{self.path} is not open", reason="the event log is closed")
        return self._reader

    async def _decode_rows(
        self, rows: Sequence[Any], conn: aiosqlite.Connection | None = None
    ) -> list[Event]:
        try:
            return [self._interns.decode(row) for row in rows]
        except KeyError:
            # A row committed (by this or another process) after our caches were filled.
            await self._refresh_interns(conn or self._conn())
        return self._interns.decode_all(rows)

    async def _refresh_interns(self, conn: aiosqlite.Connection) -> None:
        interns = self._interns
        try:
            vms = await conn.execute_fetchall(VMS_AFTER.format("?"), (interns.last_vm,))
            actors = await conn.execute_fetchall(ACTORS_AFTER.format("?"), (interns.last_actor,))
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error
        interns.learn(vms, actors)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return list(await self._conn().execute_fetchall(sql, params))
        except sqlite3.Error as error:
            raise translate(error, f"reading {self.path}", self.path) from error

    async def read(self, query: EventQuery) -> list[Event]:
        clauses = ["seq > ?"]
        params: list[Any] = [int64(query.after)]
        if query.upto is not None:
            clauses.append("seq <= ?")
            params.append(int64(query.upto))
        if query.vm_id is not None:
            vm = self._interns.vm_ids.get(query.vm_id)
            if vm is None:
                await self._refresh_interns(self._conn())
                vm = self._interns.vm_ids.get(query.vm_id)
            if vm is None:
                return []
            clauses.append("vm = ?")
            params.append(vm)
        if query.types is not None:
            clauses.append(f"type IN ({', '.join('?' for _ in query.types)})")
            params.extend(TYPE_CODES[t] for t in query.types)
        if query.since is not None:
            clauses.append("at >= ?")
            params.append(int64(query.since))
        if query.until is not None:
            clauses.append("at <= ?")
            params.append(int64(query.until))
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
        params.append(int64(query.limit))
        return await self._decode_rows(await self.fetch(sql, params))

    async def read_after(self, seq: int, limit: int) -> list[Event]:
        rows = await self.fetch(
            f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (int64(seq), int64(limit))
        )
        return await self._decode_rows(rows)

    async def _pages(self, columns: str, after: int, upto: int | None) -> AsyncIterator[list[Any]]:
        """Raw rows after `after` (up to `upto`) in seq order, `SCAN_CHUNK` at a time."""
        position = int64(after)
        limit_seq = int64(upto) if upto is not None else INT64_MAX
        while True:
            rows = await self.fetch(
                f"SELECT {columns} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (position, limit_seq, SCAN_CHUNK),
            )
            if not rows:
                return
            yield rows
            position = rows[-1][0]
            if len(rows) < SCAN_CHUNK:
                return

    async def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        async for rows in self._pages(COLUMNS, after, upto):
            yield await self._decode_rows(rows)

    async def scan_hashes(
        self, after: int = 0, upto: int | None = None
    ) -> AsyncIterator[list[tuple[Event, bytes]]]:
        async for rows in self._pages(COLUMNS + ", hash", after, upto):
            events = await self._decode_rows([row[:6] for row in rows])
            yield [(event, bytes(row[6])) for event, row in zip(events, rows, strict=True)]

    async def scan_for_replay(self, after: int = 0) -> AsyncIterator[ReplayChunk]:
        """The rows after `after` as stored, read on a connection of their own
        (`replay_reader.py`), for `domain/replay.py`."""
        interns = self._interns
        # The caches hold every id the log named up to here (at open, and after our commits);
        # a chunk beyond it may name a VM or actor another process added since.
        known = self._interned_at
        chunks = read_in_chunks(
            self.path,
            f"{_SELECT} WHERE seq > ? ORDER BY seq",
            (int64(after),),
            REPLAY_CHUNK,
            self.busy_timeout_ms,
        )
        async for rows in chunks:
            if rows[-1][0] > known:
                await self._refresh_interns(self._conn())
                known = rows[-1][0]
            yield ReplayChunk(rows, HEARTBEAT_CODE, interns.vm_names, interns.decode)
            del rows

    async def hash_at(self, seq: int) -> bytes | None:
        rows = await self.fetch("SELECT hash FROM events WHERE seq = ?", (int64(seq),))
        return bytes(rows[0][0]) if rows else None

    async def seq_at_time(self, at: int) -> int:
        at = int64(at)
        first = await self.fetch(
            "SELECT seq FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (self._first_seq,)
        )
        last = await self.fetch("SELECT seq FROM events ORDER BY seq DESC LIMIT 1", ())
        if not first or not last:
            return self._first_seq - 1
        low, high = int(first[0][0]), int(last[0][0])
        answer = low - 1
        # Binary search on seq: `at` is non-decreasing along the log.
        while low <= high:
            middle = (low + high) // 2
            row = await self.fetch("SELECT at FROM events WHERE seq = ?", (middle,))
            if not row:
                raise StoreCorrupt(f"{self.path}: seq {middle} is missing", middle)
            if int(row[0][0]) <= at:
                answer, low = middle, middle + 1
            else:
                high = middle - 1
        return answer
