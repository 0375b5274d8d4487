"""The flow of a SQL event log, written once: where the log stands (head, chain value, first
seq, the compaction point) and the write transaction (`locked()`).

Under the backend's global write lock, `locked()` reads the true head, refreshes the intern
caches when others appended since this handle last knew them, hands out a `SqlTransaction`,
and commits when the block exits cleanly. Only after the commit does the in-memory position
move; on any failure the transaction rolls back and the intern ids it took are given back.

With `assume_head` equal to this handle's head (and the intern caches complete as of it),
`locked()` hands out the transaction without beginning it: nothing but this process appended
since its own last commit, as far as it knows. As the block exits, `insert_if_head` begins,
checks that the true head and chain value are still the ones assumed, and only then stores the
rows and commits; a moved head rolls back and raises `SeqMismatch`. Anything in the block that
needs the database under the lock (reading `newer`, looking up intern ids a cache let go)
begins the transaction there and then, with the same check. A commit of the writer's is then
one step instead of two: for SQLite, one trip to its connection's thread per group commit.

A backend fills in the driver's part: how a write session is held (`write_session`), how a
transaction begins, finds the head under the lock, commits and rolls back, and how a batch's
rows are inserted (`insert`). A batch's rows are stored as the block exits, with the commit
(`insert_and_commit`, which a backend may do in one step), unless the transaction reads or
appends again first. Each translates its driver's errors at that edge.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from vm_registry.domain.events import Event
from vm_registry.persistence.errors import SeqMismatch
from vm_registry.persistence.id_tables import IdTables, Row, Rows
from vm_registry.persistence.log import GENESIS_HASH, chain_hashes, check_continues
from vm_registry.persistence.sql.reading import SELECT, SqlReads


class SqlEventLog(SqlReads):
    # How the backend's `vms.name` column takes a VM id: PostgreSQL's is BYTEA (TEXT refuses NUL).
    NAMES_AS_BYTES: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._head = 0
        # The head as of the last time the intern caches were known complete (at open, and
        # after our own commits). `head` itself may move on without them (`heads()`).
        self._interned_at = 0
        self._first_seq = 1
        self._last_hash = GENESIS_HASH
        self._id_tables = IdTables(names_as_bytes=self.NAMES_AS_BYTES)

    # -- the driver's part ---------------------------------------------------------------

    def write_session(self) -> AbstractAsyncContextManager[Any]:
        """This process's one write connection, held (and locked against this process's other
        writers) for the block."""
        raise NotImplementedError

    async def begin(self, conn: Any) -> tuple[int, bytes]:
        """Open a transaction that holds the log's global write lock; the true head and its
        chain value under it."""
        raise NotImplementedError

    async def commit(self, conn: Any) -> None:
        raise NotImplementedError

    async def rollback_on(self, conn: Any) -> None:
        """Roll back whatever is open on `conn`, raising nothing."""
        raise NotImplementedError

    async def insert(
        self,
        conn: Any,
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> None:
        """Store a batch: its new intern rows, then its event rows (the last one the head)."""
        raise NotImplementedError

    async def insert_and_commit(
        self,
        conn: Any,
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> None:
        """`insert`, then `commit`: a backend that can do both in one step overrides it."""
        await self.insert(conn, vms, actors, rows)
        await self.commit(conn)

    async def insert_if_head(
        self,
        conn: Any,
        head: tuple[int, bytes],
        vms: list[tuple[int, str]],
        actors: list[tuple[int, bytes]],
        rows: list[Row],
    ) -> bool:
        """Begin; if the true head and chain value are `head`, `insert_and_commit` (nothing to
        insert: just commit) and True; else roll back and False. A backend that can do it all
        in one step overrides it."""
        if await self.begin(conn) != head:
            await self.rollback_on(conn)
            return False
        if rows:
            await self.insert_and_commit(conn, vms, actors, rows)
        else:
            await self.commit(conn)
        return True

    def committed(self) -> None:
        """Called after each commit, before it counts: a backend may still refuse it."""

    # -- position ------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self._head

    @property
    def first_seq(self) -> int:
        return self._first_seq

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    def observe(self, head: int, chain: bytes) -> None:
        if head > self._head:
            self._head, self._last_hash = head, chain

    async def load_position(self, position: tuple[int, bytes, int], conn: Any = None) -> None:
        """At open: (head, chain at head, first seq) as stored, and the caches to match."""
        self._head, self._last_hash, self._first_seq = position
        self._interned_at = self._head
        await self.refresh_id_tables(conn)

    async def compacted_through(self, conn: Any = None) -> int:
        rows = await self.fetch("SELECT value FROM meta WHERE key = 'compacted_through'", (), conn)
        return int(rows[0][0]) if rows else 0

    async def refresh_first_seq(self) -> int:
        floor = await self.compacted_through()
        self._first_seq = max(self._first_seq, floor + 1)
        return self._first_seq

    async def compacted_at(self) -> tuple[int, int] | None:
        rows = await self.fetch(
            "SELECT key, value FROM meta WHERE key IN ('compacted_through', 'compacted_through_at')"
        )
        found = {str(key): str(value) for key, value in rows}
        if "compacted_through" not in found or "compacted_through_at" not in found:
            return None
        return int(found["compacted_through"]), int(found["compacted_through_at"])

    # -- writing -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, assume_head: int | None = None) -> AsyncIterator[SqlTransaction]:
        async with self.write_session() as conn:
            tables = self._id_tables
            known = tables.last_vm, tables.last_actor
            try:
                if assume_head is not None and assume_head == self._head == self._interned_at:
                    tx = SqlTransaction(self, conn, self._head, self._last_hash, begun=False)
                else:
                    head, chain = await self.begin(conn)
                    if head != self._interned_at:
                        # Others appended: their new VMs and actors took the next ids.
                        await self.refresh_id_tables(conn)
                        known = tables.last_vm, tables.last_actor
                    tx = SqlTransaction(self, conn, head, chain)
                yield tx
                await tx.store_and_commit()
            except BaseException:
                await self.rollback_on(conn)
                tables.forget_after(*known)
                raise
            self.committed()
            # Only now, with the batch durable, does the in-memory position move.
            self.observe(tx.head, tx.last_hash)
            self._interned_at = tx.head


class SqlTransaction:
    """One write transaction, valid inside `async with log.locked()` (`LogTransaction`)."""

    def __init__(
        self, log: SqlEventLog, conn: Any, head: int, last_hash: bytes, *, begun: bool = True
    ) -> None:
        self._log = log
        self._conn = conn
        self._head = head
        self._last_hash = last_hash
        # Not begun: the head is assumed, to be checked under the lock (`locked()`).
        self._assumed = None if begun else (head, last_hash)
        # The rows of the last `append`, stored with the commit: one step for the backend
        # instead of two (for SQLite, one trip to its connection's thread fewer per batch).
        self._unstored: Rows | None = None

    @property
    def head(self) -> int:
        return self._head

    @property
    def last_hash(self) -> bytes:
        return self._last_hash

    async def newer(self, after: int) -> list[Event]:
        if after >= self._head:
            return []
        await self._begin()
        await self._store()  # the transaction's own appends are part of what it reads
        rows = await self._log.fetch(
            f"{SELECT} WHERE seq > ? AND seq <= ? ORDER BY seq", (after, self._head), self._conn
        )
        return await self._log.decode_rows(rows, self._conn)

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        check_continues(events, self._head)
        hashes = chain_hashes(events, self._last_hash)
        tables = self._log._id_tables
        # A cache that has let ids go may lack a name the tables hold: look those up first.
        found = None
        if not tables.complete:
            await self._begin()  # what the tables hold is read under the lock
            fetch = self._log.fetcher(self._conn)
            found = await tables.refresh(fetch, events=events, newer=False)
        rows = tables.rows_for(events, hashes, found)
        await self._store()
        self._unstored = rows
        self._head, self._last_hash = events[-1].seq, hashes[-1]

    async def _begin(self) -> None:
        """Take the lock now, if the head was assumed; `SeqMismatch` if it moved."""
        assumed, self._assumed = self._assumed, None
        if assumed is not None and await self._log.begin(self._conn) != assumed:
            raise SeqMismatch(
                f"the log moved past the assumed head {assumed[0]}",
                reason="the writer numbered against a stale head",
            )

    async def _store(self) -> None:
        if self._unstored is not None:
            rows, self._unstored = self._unstored, None
            await self._log.insert(self._conn, *rows)

    async def store_and_commit(self) -> None:
        """Called by `locked()` as the block exits cleanly."""
        assumed, self._assumed = self._assumed, None
        if assumed is not None:
            rows, self._unstored = self._unstored or ([], [], []), None
            if not await self._log.insert_if_head(self._conn, assumed, *rows):
                raise SeqMismatch(
                    f"the log moved past the assumed head {assumed[0]}",
                    reason="the writer numbered against a stale head",
                )
        elif self._unstored is None:
            await self._log.commit(self._conn)
        else:
            rows, self._unstored = self._unstored, None
            await self._log.insert_and_commit(self._conn, *rows)
