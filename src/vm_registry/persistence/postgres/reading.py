"""Reading the PostgreSQL log: queries, and the chunked scans. Reads take a pooled connection
each and no lock: every committed event up to the head a reader saw is visible to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import asyncpg

from vm_registry.domain.events import HEARTBEAT, Event
from vm_registry.persistence.codes import TYPE_CODES
from vm_registry.persistence.errors import StoreCorrupt, StoreUnavailable
from vm_registry.persistence.interns import ACTORS_AFTER, VMS_AFTER, Interns
from vm_registry.persistence.log import EventQuery, ReplayChunk
from vm_registry.persistence.postgres.errors import Conn, translated

SCAN_CHUNK: Final = 20_000
# Not SQLite's 1,000: each chunk is a query and a round trip here (sqlite/reading.py has why
# chunks are small at all).
REPLAY_CHUNK: Final = 5_000
INT64_MAX: Final = (1 << 63) - 1
COLUMNS: Final = "seq, type, vm, at, actor, data"
_SELECT: Final = f"SELECT {COLUMNS} FROM events"
HEARTBEAT_CODE: Final = TYPE_CODES[HEARTBEAT]


def int64(number: int) -> int:
    """A client's position or limit beyond BIGINT means the same as the largest BIGINT."""
    return max(min(number, INT64_MAX), -INT64_MAX)


class LogReader:
    name: str
    _pool: asyncpg.Pool | None
    _interns: Interns
    _interned_at: int
    _first_seq: int

    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable(f"{self.name} is not open", reason="the event log is closed")
        return self._pool

    async def fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        async with translated(f"reading {self.name}"):
            return list(await self.pool().fetch(sql, *params))

    async def refresh_interns(self, conn: Conn | asyncpg.Pool | None = None) -> None:
        source = conn if conn is not None else self.pool()
        async with translated(f"reading {self.name}"):
            vms = await source.fetch(VMS_AFTER.format("$1"), self._interns.last_vm)
            actors = await source.fetch(ACTORS_AFTER.format("$1"), self._interns.last_actor)
        self._interns.learn(vms, actors)

    async def decode_rows(self, rows: Sequence[Any], conn: Conn | None = None) -> list[Event]:
        try:
            return [self._interns.decode(row) for row in rows]
        except KeyError:
            # A row committed (by another replica) after our caches were filled.
            await self.refresh_interns(conn)
        return self._interns.decode_all(rows)

    async def read(self, query: EventQuery) -> list[Event]:
        clauses = ["seq > $1"]
        params: list[Any] = [int64(query.after)]

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if query.upto is not None:
            clauses.append(f"seq <= {param(int64(query.upto))}")
        if query.vm_id is not None:
            vm = self._interns.vm_ids.get(query.vm_id)
            if vm is None:
                await self.refresh_interns()
                vm = self._interns.vm_ids.get(query.vm_id)
            if vm is None:
                return []
            clauses.append(f"vm = {param(vm)}")
        if query.types is not None:
            clauses.append(f"type = ANY({param([TYPE_CODES[t] for t in query.types])}::smallint[])")
        if query.since is not None:
            clauses.append(f"at >= {param(int64(query.since))}")
        if query.until is not None:
            clauses.append(f"at <= {param(int64(query.until))}")
        limit = param(max(int64(query.limit), 0))
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT {limit}"
        return await self.decode_rows(await self.fetch(sql, *params))

    async def read_after(self, seq: int, limit: int) -> list[Event]:
        rows = await self.fetch(
            f"{_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2", int64(seq), max(int64(limit), 0)
        )
        return await self.decode_rows(rows)

    async def _pages(
        self, columns: str, after: int, upto: int | None, chunk: int = SCAN_CHUNK
    ) -> AsyncIterator[list[asyncpg.Record]]:
        position = int64(after)
        limit_seq = int64(upto) if upto is not None else INT64_MAX
        while True:
            rows = await self.fetch(
                f"SELECT {columns} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                position,
                limit_seq,
                chunk,
            )
            if not rows:
                return
            yield rows
            position = rows[-1][0]
            if len(rows) < chunk:
                return

    async def scan(self, after: int = 0, upto: int | None = None) -> AsyncIterator[list[Event]]:
        async for rows in self._pages(COLUMNS, after, upto):
            yield await self.decode_rows(rows)

    async def scan_hashes(
        self, after: int = 0, upto: int | None = None
    ) -> AsyncIterator[list[tuple[Event, bytes]]]:
        async for rows in self._pages(COLUMNS + ", hash", after, upto):
            events = await self.decode_rows([tuple(row)[:6] for row in rows])
            yield [(event, bytes(row[6])) for event, row in zip(events, rows, strict=True)]

    async def scan_for_replay(self, after: int = 0) -> AsyncIterator[ReplayChunk]:
        interns = self._interns
        # The caches hold every id the log named up to here; a chunk beyond it may name a VM
        # or actor another replica added since.
        known = self._interned_at
        async for rows in self._pages(COLUMNS, after, None, REPLAY_CHUNK):
            if rows[-1][0] > known:
                await self.refresh_interns()
                known = rows[-1][0]
            yield ReplayChunk(rows, HEARTBEAT_CODE, interns.vm_names, interns.decode)

    async def hash_at(self, seq: int) -> bytes | None:
        rows = await self.fetch("SELECT hash FROM events WHERE seq = $1", int64(seq))
        return bytes(rows[0][0]) if rows else None

    async def seq_at_time(self, at: int) -> int:
        at = int64(at)
        bounds = await self.fetch(
            "SELECT min(seq), max(seq) FROM events WHERE seq >= $1", self._first_seq
        )
        low, high = bounds[0][0], bounds[0][1]
        if low is None or high is None:
            return self._first_seq - 1
        answer = low - 1
        # Binary search on seq: `at` is non-decreasing along the log.
        while low <= high:
            middle = (low + high) // 2
            row = await self.fetch("SELECT at FROM events WHERE seq = $1", middle)
            if not row:
                raise StoreCorrupt(f"{self.name}: seq {middle} is missing", middle)
            if int(row[0][0]) <= at:
                answer, low = middle, middle + 1
            else:
                high = middle - 1
        return int(answer)
