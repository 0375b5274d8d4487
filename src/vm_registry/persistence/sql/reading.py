"""Reading a SQL log: queries, pages, the chunked scans and the binary search by time, the same
on every backend.

The SQL here uses `?` placeholders; a backend whose driver numbers them (`$1`, PostgreSQL)
rewrites them in its `fetch`. A backend supplies `fetch` (which translates its driver's errors
into the store's own at the edge) and may read startup replay's rows its own way
(`replay_rows`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, Final

from vm_registry.domain.events import HEARTBEAT, Event
from vm_registry.persistence.codes import TYPE_CODES
from vm_registry.persistence.errors import StoreCorrupt
from vm_registry.persistence.id_tables import Fetch, Found, IdTables
from vm_registry.persistence.log import EventQuery, ReplayChunk

COLUMNS: Final = "seq, type, vm, at, actor, data"
SELECT: Final = f"SELECT {COLUMNS} FROM events"
SCAN_CHUNK: Final = 20_000
# A scan's page also ends once its rows' data reach this many bytes (always one row at least):
# 20,000 rows of 64 KiB metadata were 1.3 GB, held with their decoded events by a feed watcher
# catching up from the log. A page costs a watcher about six times its data while it is
# decoded, framed and sent (docs/reliability.md, "Memory").
PAGE_BYTES: Final = 4 << 20
INT64_MAX: Final = (1 << 63) - 1
HEARTBEAT_CODE: Final = TYPE_CODES[HEARTBEAT]


# The next `?` rows of the log that match `where`: how many, the last seq, the bytes of their
# data. Only lengths are read (SQLite and PostgreSQL read a blob's length from its header), so
# a page costs a cheap aggregate before its one read of the rows: about a tenth of a scan's
# time on a log of heartbeats (a window function that found the cut in SQL cost half of it).
def chunk_size(where: str) -> str:
    return (
        "SELECT count(*), max(seq), coalesce(sum(length(data)), 0) FROM ("
        f"SELECT seq, data FROM events WHERE {where} ORDER BY seq LIMIT ?) AS chunk"
    )


def chunk_lengths(where: str) -> str:
    """Each of those rows' seq and data length, to find where a chunk over budget is cut."""
    return f"SELECT seq, length(data) FROM events WHERE {where} ORDER BY seq LIMIT ?"


SCAN_WHERE: Final = "seq > ? AND seq <= ?"


def int64(number: int) -> int:
    """Positions and times from a client may exceed what a driver can bind (an overflow, a
    500); past the largest seq or time any log can hold, a bigger number means the same."""
    return max(min(number, INT64_MAX), -INT64_MAX)


def row_count(number: int) -> int:
    """A client's limit as a row count: a negative one means none (SQLite's `LIMIT -1` would
    mean all of them, PostgreSQL refuses it)."""
    return max(int64(number), 0)


class SqlReads:
    name: str  # the database in messages, without secrets
    REPLAY_CHUNK: ClassVar[int]  # rows per chunk of startup replay (see each backend)
    _id_tables: IdTables
    _interned_at: int
    _first_seq: int

    async def fetch(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> list[Any]:
        """The rows of `sql` (with `?` placeholders), on `conn` or on a reading connection.
        Driver errors leave as `StoreError`."""
        raise NotImplementedError

    def replay_rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[Sequence[Any]]:
        """The rows of startup replay's one query, `REPLAY_CHUNK` at a time."""
        return self._pages_of(sql, params, self.REPLAY_CHUNK)

    # -- the intern caches ---------------------------------------------------------------

    def fetcher(self, conn: Any = None) -> Fetch:
        """`fetch` on `conn`, for the intern caches."""

        async def fetch(sql: str, params: Sequence[Any]) -> list[Any]:
            return await self.fetch(sql, params, conn)

        return fetch

    async def refresh_id_tables(
        self, conn: Any = None, rows: Sequence[Any] = (), names: Sequence[str] = ()
    ) -> Found:
        """Learn the ids others added; with caches that have let ids go, also look up those
        `rows` and `names` name (persistence/id_tables.py)."""
        return await self._id_tables.refresh(self.fetcher(conn), rows=rows, names=names)

    async def decode_rows(self, rows: Sequence[Any], conn: Any = None) -> list[Event]:
        try:
            return [self._id_tables.decode(row) for row in rows]
        except KeyError:
            # A row committed (by this or another process) after our caches were filled, or
            # naming an id the caches have let go.
            found = await self.refresh_id_tables(conn, rows=rows)
        return self._id_tables.decode_all(rows, found)

    async def vm_key(self, vm_id: str) -> int | None:
        """The intern id of VM `vm_id`, None if the log never named it."""
        key = self._id_tables.vm_id(vm_id)
        if key is None:
            found = await self.refresh_id_tables(names=(vm_id,))
            key = self._id_tables.vm_id(vm_id, found)
        return key

    async def vm_known(self, vm_id: str) -> bool:
        return await self.vm_key(vm_id) is not None

    # -- queries -------------------------------------------------------------------------

    async def read(self, query: EventQuery) -> list[Event]:
        clauses = ["seq > ?"]
        params: list[Any] = [int64(query.after)]
        if query.upto is not None:
            clauses.append("seq <= ?")
            params.append(int64(query.upto))
        if query.vm_id is not None:
            vm = await self.vm_key(query.vm_id)
            if vm is None:
                return []
            clauses.append("vm = ?")
            params.append(vm)
        if query.types is not None:
            if not query.types:
                return []
            clauses.append(f"type IN ({', '.join('?' for _ in query.types)})")
            params.extend(TYPE_CODES[t] for t in query.types)
            if query.vm_id is not None and HEARTBEAT not in query.types:
                # Spelled as SQLite's per-VM index has it (no heartbeats), so it can be used;
                # one VM's heartbeats are found by reading the log in order from `after`.
                clauses.append(f"type != {HEARTBEAT_CODE}")
        if query.since is not None:
            clauses.append("at >= ?")
            params.append(int64(query.since))
        if query.until is not None:
            clauses.append("at <= ?")
            params.append(int64(query.until))
        where, limit = " AND ".join(clauses), row_count(query.limit)
        if query.max_bytes is not None:
            page = await self._page_end(where, params, limit, query.max_bytes)
            if page is None:
                return []
            where += " AND seq <= ?"
            params.append(page[0])
        rows = await self.fetch(f"{SELECT} WHERE {where} ORDER BY seq LIMIT ?", (*params, limit))
        return await self.decode_rows(rows)

    async def read_after(self, seq: int, limit: int) -> list[Event]:
        rows = await self.fetch(
            f"{SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (int64(seq), row_count(limit))
        )
        return await self.decode_rows(rows)

    async def hash_at(self, seq: int) -> bytes | None:
        rows = await self.fetch("SELECT hash FROM events WHERE seq = ?", (int64(seq),))
        return bytes(rows[0][0]) if rows else None

    async def seq_at_time(self, at: int) -> int:
        at = int64(at)
        first = await self.fetch(
            "SELECT seq FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (self._first_seq,)
        )
        last = await self.fetch("SELECT seq FROM events ORDER BY seq DESC LIMIT 1")
        if not first or not last:
            return self._first_seq - 1
        low, high = int(first[0][0]), int(last[0][0])
        answer = low - 1
        # Binary search on seq: `at` is non-decreasing along the log, so no index on it.
        while low <= high:
            middle = (low + high) // 2
            row = await self.fetch("SELECT at FROM events WHERE seq = ?", (middle,))
            if not row:
                raise StoreCorrupt(f"{self.name}: seq {middle} is missing", middle)
            if int(row[0][0]) <= at:
                answer, low = middle, middle + 1
            else:
                high = middle - 1
        return answer

    # -- scans ---------------------------------------------------------------------------

    async def _pages_of(
        self, sql: str, params: Sequence[Any], chunk: int
    ) -> AsyncIterator[Sequence[Any]]:
        """The rows of `sql` (`... WHERE seq > ? AND seq <= ? ORDER BY seq`, its first two
        params the bounds) read a page at a time, each page a query of its own."""
        position, upto = params
        while True:
            rows = await self.fetch(f"{sql} LIMIT ?", (position, upto, chunk))
            if not rows:
                return
            yield rows
            position = rows[-1][0]
            if len(rows) < chunk:
                return

    async def _page_end(
        self, where: str, params: Sequence[Any], limit: int, budget: int
    ) -> tuple[int, bool] | None:
        """The last seq of the page of rows matching `where`, and whether more may follow it;
        None if none match. A page is `limit` rows, or fewer whose data reach `budget`,
        ending with the row that reaches it (so at least one row)."""
        params = (*params, limit)
        rows, last, size = (await self.fetch(chunk_size(where), params))[0]
        if not rows:
            return None
        if size < budget:
            return int(last), rows == limit
        total = 0
        for seq, length in await self.fetch(chunk_lengths(where), params):
            total += length or 0
            if total >= budget:
                return int(seq), True
        return int(last), True  # a compaction took rows in between: the next page says

    async def _pages(
        self, columns: str, after: int, upto: int | None
    ) -> AsyncIterator[Sequence[Any]]:
        """The rows after `after` up to `upto`, a page at a time (`_page_end`)."""
        sql = f"SELECT {columns} FROM events WHERE {SCAN_WHERE} ORDER BY seq"
        position = int64(after)
        bound = int64(upto) if upto is not None else INT64_MAX
        while (
            page := await self._page_end(SCAN_WHERE, (position, bound), SCAN_CHUNK, PAGE_BYTES)
        ) is not None:
            end, more = page
            rows = await self.fetch(sql, (position, end))
            if rows:  # none if a compaction took them in between
                yield rows
            if not more:
                return
            position = end

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
        tables = self._id_tables
        # The caches hold every id the log named up to here (at open, and after our commits);
        # a chunk beyond it may name a VM or actor another process added since.
        known = self._interned_at
        sql = f"{SELECT} WHERE seq > ? AND seq <= ? ORDER BY seq"
        async for rows in self.replay_rows(sql, (int64(after), INT64_MAX)):
            found = Found()
            if rows[-1][0] > known or not tables.complete:
                found = await self.refresh_id_tables(rows=rows)
                known = max(known, rows[-1][0])
            names, decode = tables.replay_view(rows, found)
            yield ReplayChunk(rows, HEARTBEAT_CODE, names, decode)
            # One chunk alive at a time, when the caller lets go of it too.
            del rows, names, found
